"""The sharing service: visibility, snapshots, feeds, deletes, comments, saves, posts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from parley import social, tree
from parley.errors import Forbidden, NotFound, PayloadTooLarge, Unprocessable
from parley.store import conversations, users
from parley.store.db import transaction
from parley.store.rows import explode
from parley.store.tables import shares as shares_table
from tests.store.test_shares import chain


@pytest.fixture
def people(factory: sessionmaker[Session], owner_id: str) -> dict[str, str]:
    with transaction(factory) as session:
        return {
            "owner": owner_id,
            "other": users.create(session, name="other").id,
            "admin": users.create(session, name="boss", is_admin=True).id,
        }


def stored(factory: sessionmaker[Session], owner_id: str, data: dict[str, Any]) -> None:
    with transaction(factory) as session:
        conversations.save(session, owner_id=owner_id, item=explode(data))


def share(factory: sessionmaker[Session], owner_id: str, cid: str, **kw: Any) -> social.Share:
    with transaction(factory) as session:
        return social.share_conversation(session, owner_id=owner_id, conversation_id=cid, **kw)


def view(factory: sessionmaker[Session], share_id: str, viewer: str | None) -> social.ShareView:
    with transaction(factory) as session:
        return social.view_share(session, share_id=share_id, viewer_id=viewer)


def test_share_defaults_to_unlisted_and_the_visible_branch(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    stored(factory, people["owner"], chain("c1", "What is rye?", "A grain.", title=None))
    made = share(factory, people["owner"], "c1")
    assert (made.visibility, made.node_id, made.title, made.owner_id) == (
        "unlisted",
        "c1-1",
        "What is rye?",  # no conversation title: the first prompt
        people["owner"],
    )
    shown = view(factory, made.id, None)  # anyone with the link
    assert shown.leaf == "c1-1" and shown.owner_name == "owner" and not shown.saved_by_viewer
    assert tree.visible_messages(shown.conversation)[-1]["content"]["parts"] == ["A grain."]


def test_sharing_again_keeps_the_link_and_updates_it(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    stored(factory, people["owner"], chain("c1", "q", "a", "q2", "a2", title="T"))
    first = share(factory, people["owner"], "c1", node_id="c1-1", visibility="public")
    again = share(factory, people["owner"], "c1", visibility=None, title="New title")
    assert again.id == first.id
    assert (again.node_id, again.visibility, again.title) == ("c1-3", "public", "New title")
    assert again.updated_at >= first.updated_at and again.created_at == first.created_at
    private = share(factory, people["owner"], "c1", visibility="private")
    assert (private.id, private.visibility, private.title) == (first.id, "private", "New title")


def test_share_up_to_a_node_hides_later_turns(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    stored(factory, people["owner"], chain("c1", "q", "a", "secret q", "secret a"))
    made = share(factory, people["owner"], "c1", node_id="c1-1")
    shown = view(factory, made.id, None)
    assert set(shown.conversation["mapping"]) == {"root", "c1-0", "c1-1"}
    assert shown.conversation["current_node"] == "c1-1"
    assert shown.conversation["mapping"]["c1-1"].get("children", []) == []
    assert "secret" not in str(shown.conversation)


def test_shared_view_blanks_personal_context_and_keeps_few_keys(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    data = chain("c1", "about me: I live at 1 Main St", "hello", title="Private title")
    data["mapping"]["c1-0"]["message"]["content"] = {
        "content_type": "user_editable_context",
        "user_profile": "I live at 1 Main St",
    }
    data["moderation_results"] = ["internal"]
    stored(factory, people["owner"], data)
    made = share(factory, people["owner"], "c1", title="Shared title")
    shown = view(factory, made.id, None)
    assert shown.conversation["mapping"]["c1-0"]["message"] is None
    assert "Main St" not in str(shown.conversation)
    assert shown.conversation["title"] == "Shared title"
    assert "moderation_results" not in shown.conversation


def test_only_the_owner_sees_a_private_share(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    stored(factory, people["owner"], chain("c1", "q", "a"))
    made = share(factory, people["owner"], "c1", visibility="private")
    assert view(factory, made.id, people["owner"]).share.id == made.id
    for viewer in (None, people["other"], people["admin"]):
        with pytest.raises(NotFound):
            view(factory, made.id, viewer)
    with pytest.raises(NotFound):
        view(factory, "nothere", people["owner"])


def test_sharing_needs_your_own_conversation_and_a_real_node(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    stored(factory, people["owner"], chain("c1", "q", "a"))
    with pytest.raises(NotFound) as error:
        share(factory, people["other"], "c1")
    assert "c1" not in error.value.detail  # a 404 does not confirm someone else's id
    with pytest.raises(NotFound):
        share(factory, people["owner"], "c1", node_id="nope")
    with pytest.raises(Unprocessable):
        share(factory, people["owner"], "c1", visibility="everyone")
    with pytest.raises(Unprocessable):
        share(factory, people["owner"], "c1", title="x" * (social.MAX_TITLE_CHARS + 1))


def test_update_share_is_for_its_owner(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    stored(factory, people["owner"], chain("c1", "q", "a", "q2"))
    made = share(factory, people["owner"], "c1", visibility="public")
    with transaction(factory) as session:
        for intruder in (people["other"], people["admin"]):
            with pytest.raises(NotFound):
                social.update_share(
                    session, share_id=made.id, user_id=intruder, visibility="private"
                )
        changed = social.update_share(
            session, share_id=made.id, user_id=people["owner"], title="T2", node_id="c1-0"
        )
    assert (changed.visibility, changed.title, changed.node_id) == ("public", "T2", "c1-0")


def public_shares(factory: sessionmaker[Session], owner_id: str, count: int) -> list[str]:
    """``count`` public shares whose creation times are 1, 2, ... (oldest first)."""
    ids = []
    for i in range(count):
        stored(factory, owner_id, chain(f"p{i}", f"question {i}", "answer", title=f"T{i}"))
        ids.append(share(factory, owner_id, f"p{i}", visibility="public").id)
    with transaction(factory) as session:
        for i, share_id in enumerate(ids):
            session.execute(
                update(shares_table).where(shares_table.c.id == share_id).values(created_at=i + 1)
            )
    return ids


def test_feed_pages_are_exact(factory: sessionmaker[Session], people: dict[str, str]) -> None:
    ids = public_shares(factory, people["owner"], 120)
    newest_first = list(reversed(ids))
    with transaction(factory) as session:
        pages = [social.feed(session, kind="new", page=n) for n in (1, 2, 3, 4)]
    assert [[m.id for m in p] for p in pages] == [
        newest_first[0:50],
        newest_first[50:100],
        newest_first[100:120],
        [],
    ]
    with transaction(factory) as session, pytest.raises(Unprocessable):
        social.feed(session, kind="new", page=0)
    with transaction(factory) as session, pytest.raises(Unprocessable):
        social.feed(session, kind="random", page=1)  # type: ignore[arg-type]


def test_feed_and_search_never_show_private_or_unlisted(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    for cid, visibility in (("pub", "public"), ("unl", "unlisted"), ("pri", "private")):
        stored(factory, people["owner"], chain(cid, f"sourdough {cid}", "answer"))
        share(factory, people["owner"], cid, visibility=visibility)
    with transaction(factory) as session:
        for kind in social.FEED_KINDS:
            listed = social.feed(session, kind=kind, page=1)
            assert [m.title for m in listed] == ["sourdough pub"]
        found = social.feed(session, kind="top", page=1, search="sourdough")
        assert [m.title for m in found] == ["sourdough pub"]
        assert social.feed(session, kind="new", page=1, search="nothing-like-this") == []
        assert len(social.feed(session, kind="new", page=1, search="  ?? ")) == 1  # no words


def test_delete_rules(factory: sessionmaker[Session], people: dict[str, str]) -> None:
    made = []
    for cid, visibility in (("c1", "public"), ("c2", "private"), ("c3", "public")):
        stored(factory, people["owner"], chain(cid, "q", "a"))
        made.append(share(factory, people["owner"], cid, visibility=visibility).id)
    public, private, kept = made
    with transaction(factory) as session, pytest.raises(Forbidden):
        social.delete_share(session, share_id=public, user_id=people["other"], manage_token=None)
    with transaction(factory) as session, pytest.raises(NotFound):
        social.delete_share(session, share_id=private, user_id=people["other"], manage_token="x")
    with transaction(factory) as session:
        social.delete_share(session, share_id=public, user_id=people["owner"], manage_token=None)
        social.delete_share(session, share_id=private, user_id=people["admin"], manage_token=None)
    with transaction(factory) as session:
        left = social.my_shares(session, user_id=people["owner"])
        # the conversations stay in the owner's library
        assert conversations.count(session, owner_id=people["owner"]) == 3
    assert [s.id for s in left] == [kept]


def post(
    factory: sessionmaker[Session], owner_id: str | None, items: list[dict[str, Any]], **kw: Any
) -> tuple[social.Share, str | None]:
    options = {"avatar_url": None, "title": None, "model": None, "visibility": "unlisted", **kw}
    with transaction(factory) as session:
        return social.post_sharegpt(session, owner_id=owner_id, items=items, **options)


def test_anonymous_posts_get_a_manage_token_and_live_in_the_tree_store(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    items = [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "Hi <b>there</b>"},
        {"from": "GPT", "value": "Hello!"},
        {"from": "user", "value": "Bye"},
        {"from": "assistant", "value": "Bye."},
    ]
    made, token = post(factory, None, items, model="gpt-4", avatar_url="javascript:alert(1)")
    assert token and made.owner_id is None and made.avatar is None and made.model == "gpt-4"
    assert made.title == "Hi <b>there</b>"  # plain text, escaped by whoever shows it
    with transaction(factory) as session:
        anonymous = users.by_name(session, name=social.ANONYMOUS_NAME)
        assert anonymous is not None and not anonymous.is_admin
        data = conversations.load(
            session, owner_id=anonymous.id, conversation_id=made.conversation_id
        )
    shown = tree.visible_messages(data)
    assert [(tree.role(m), tree.message_text(m)) for m in shown] == [
        ("system", "Be brief."),
        ("user", "Hi <b>there</b>"),
        ("assistant", "Hello!"),
        ("user", "Bye"),
        ("assistant", "Bye."),
    ]
    with transaction(factory) as session, pytest.raises(Forbidden):
        social.delete_share(session, share_id=made.id, user_id=None, manage_token="wrong")
    with transaction(factory) as session:
        social.delete_share(session, share_id=made.id, user_id=None, manage_token=token)
    with transaction(factory) as session:
        assert conversations.count(session, owner_id=anonymous.id) == 0


def test_posts_with_an_account_go_to_the_library_without_a_token(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    made, token = post(
        factory, people["other"], [{"from": "human", "value": "q"}], visibility="private"
    )
    assert token is None and made.owner_id == people["other"]
    with transaction(factory) as session:
        assert conversations.count(session, owner_id=people["other"]) == 1
        assert [s.id for s in social.my_shares(session, user_id=people["other"])] == [made.id]


def test_posted_html_becomes_markdown_and_nothing_executable_is_kept(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    html = (
        '<div class="markdown"><p>Use <strong>this</strong>:</p><img src=x onerror="alert(1)">'
        "<pre><div><span>python</span><button>Copy code</button></div>"
        '<code class="language-python">print("hi")</code></pre>'
        '<script>alert(2)</script><a href="javascript:alert(3)">click</a></div>'
    )
    made, _ = post(
        factory, people["owner"], [{"from": "human", "value": "q"}, {"from": "gpt", "value": html}]
    )
    with transaction(factory) as session:
        data = conversations.load(
            session, owner_id=people["owner"], conversation_id=made.conversation_id
        )
    answer = tree.visible_messages(data)[-1]
    text = tree.message_text(answer)
    assert text == 'Use **this**:\n\n```python\nprint("hi")\n```\n\nclick'
    kept = answer["metadata"]["sharegpt_html"]
    for bad in ("onerror", "<script", "alert(2)", "javascript:"):
        assert bad not in kept and bad not in text
    assert "<strong>this</strong>" in kept


def test_post_validation(factory: sessionmaker[Session], people: dict[str, str]) -> None:
    cases: list[tuple[Any, dict[str, Any], type[Exception]]] = [
        ([], {}, Unprocessable),
        ([{"from": "robot", "value": "x"}], {}, Unprocessable),
        ([{"from": "human", "value": 3}], {}, Unprocessable),
        (["text"], {}, Unprocessable),
        ([{"from": "human", "value": "x"}], {"visibility": "private"}, Unprocessable),
        ([{"from": "human", "value": "x"}], {"visibility": "world"}, Unprocessable),
        ([{"from": "human", "value": "x"}], {"title": "x" * 1000}, Unprocessable),
        ([{"from": "human", "value": "x"}] * (social.MAX_ITEMS + 1), {}, PayloadTooLarge),
    ]
    for items, options, error in cases:
        with pytest.raises(error):
            post(factory, None, items, **options)


def comment_setup(factory: sessionmaker[Session], people: dict[str, str]) -> social.Share:
    stored(factory, people["owner"], chain("c1", "q", "a", "later"))
    return share(factory, people["owner"], "c1", node_id="c1-1", visibility="public")


def test_comments_sit_on_shared_messages(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    made = comment_setup(factory, people)
    with transaction(factory) as session:
        note = social.add_comment(
            session, share_id=made.id, author_id=people["other"], node_id="c1-1", body="  nice  "
        )
        for node, body in (
            ("c1-2", "below the leaf"),
            ("zzz", "nowhere"),
            ("c1-1", " "),
            ("c1-1", "x" * (social.MAX_COMMENT_CHARS + 1)),
        ):
            with pytest.raises((NotFound, Unprocessable)):
                social.add_comment(
                    session, share_id=made.id, author_id=people["other"], node_id=node, body=body
                )
    assert (note.body, note.author_name, note.node_id) == ("nice", "other", "c1-1")
    with transaction(factory) as session:
        grouped = social.comments_by_node(session, share_id=made.id)
        assert view(factory, made.id, None).share.comments == 1
    assert {node: [c.id for c in cs] for node, cs in grouped.items()} == {"c1-1": [note.id]}


def test_comment_edit_and_delete_permissions(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    made = comment_setup(factory, people)
    with transaction(factory) as session:
        theirs = social.add_comment(
            session, share_id=made.id, author_id=people["other"], node_id="c1-0", body="a"
        )
        again = social.add_comment(
            session, share_id=made.id, author_id=people["other"], node_id="c1-0", body="b"
        )
    with transaction(factory) as session:
        for intruder in (people["owner"], people["admin"]):
            with pytest.raises(NotFound):
                social.edit_comment(session, comment_id=theirs.id, user_id=intruder, body="x")
        with pytest.raises(NotFound):
            social.delete_comment(session, comment_id=theirs.id, user_id=people["admin"])
        edited = social.edit_comment(
            session, comment_id=theirs.id, user_id=people["other"], body="a2"
        )
        assert edited.body == "a2" and edited.edited_at is not None
        social.delete_comment(session, comment_id=theirs.id, user_id=people["other"])  # author
        social.delete_comment(session, comment_id=again.id, user_id=people["owner"])  # owner
        with pytest.raises(NotFound):
            social.delete_comment(session, comment_id=again.id, user_id=people["owner"])
        with pytest.raises(NotFound):
            social.edit_comment(session, comment_id=theirs.id, user_id=people["other"], body="z")
    with transaction(factory) as session:
        assert social.comments_by_node(session, share_id=made.id) == {}
    assert view(factory, made.id, None).share.comments == 0


def test_saves_count_once_and_follow_visibility(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    made = comment_setup(factory, people)
    with transaction(factory) as session:
        social.set_saved(session, share_id=made.id, user_id=people["other"], saved=True)
        social.set_saved(session, share_id=made.id, user_id=people["other"], saved=True)
    assert view(factory, made.id, people["other"]).saved_by_viewer
    with transaction(factory) as session:
        assert [m.id for m in social.my_saves(session, user_id=people["other"])] == [made.id]
        assert social.view_share(session, share_id=made.id, viewer_id=None).share.saves == 1
    share(factory, people["owner"], "c1", visibility="private")
    with transaction(factory) as session:
        assert social.my_saves(session, user_id=people["other"]) == []
        with pytest.raises(NotFound):
            social.set_saved(session, share_id=made.id, user_id=people["admin"], saved=True)
        social.set_saved(session, share_id=made.id, user_id=people["other"], saved=False)
        with pytest.raises(NotFound):  # out of sight and no longer saved: like any other
            social.set_saved(session, share_id=made.id, user_id=people["other"], saved=False)
        social.set_saved(session, share_id=made.id, user_id=people["owner"], saved=False)
    assert view(factory, made.id, people["owner"]).share.saves == 0


def test_removing_a_user_takes_their_saves_and_comments_off_the_counters(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    made = comment_setup(factory, people)
    with transaction(factory) as session:
        for who in ("other", "admin"):
            social.set_saved(session, share_id=made.id, user_id=people[who], saved=True)
        for body in ("one", "two"):
            social.add_comment(
                session, share_id=made.id, author_id=people["other"], node_id="c1-0", body=body
            )
        gone = social.add_comment(
            session, share_id=made.id, author_id=people["other"], node_id="c1-0", body="three"
        )
        social.delete_comment(session, comment_id=gone.id, user_id=people["other"])
        social.add_comment(
            session, share_id=made.id, author_id=people["admin"], node_id="c1-1", body="stays"
        )
    before = view(factory, made.id, None).share
    assert (before.saves, before.comments) == (2, 3)
    with transaction(factory) as session:
        users.remove(session, user_id=people["other"])
    after = view(factory, made.id, None).share
    assert (after.saves, after.comments) == (1, 1)
    with transaction(factory) as session:
        assert [
            c.body for cs in social.comments_by_node(session, share_id=made.id).values() for c in cs
        ] == ["stays"]


def test_reports_need_a_visible_share_and_a_reason(
    factory: sessionmaker[Session], people: dict[str, str]
) -> None:
    made = comment_setup(factory, people)
    with transaction(factory) as session:
        filed = social.report_share(session, share_id=made.id, reporter_id=None, reason=" spam ")
        mine = social.report_share(
            session, share_id=made.id, reporter_id=people["other"], reason="abuse"
        )
        with pytest.raises(Unprocessable):
            social.report_share(session, share_id=made.id, reporter_id=None, reason="")
    share(factory, people["owner"], "c1", visibility="private")
    with transaction(factory) as session:
        with pytest.raises(NotFound):
            social.report_share(session, share_id=made.id, reporter_id=None, reason="x")
        every = social.list_reports(session, user_id=people["admin"], is_admin=True)
        own = social.list_reports(session, user_id=people["other"], is_admin=False)
    assert {r.id for r in every} == {filed.id, mine.id} and filed.reason == "spam"
    assert [r.id for r in own] == [mine.id]
