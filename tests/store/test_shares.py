"""Share rows, feeds, view counters, the shared-node rule and the public search."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from parley import tree
from parley.store import conversations, shares, users
from parley.store.db import transaction
from parley.store.rows import explode


def chain(cid: str, *texts: str, title: str | None = None, at: float = 100.0) -> dict[str, Any]:
    """root -> texts (user, assistant, ...) as one branch; node ids ``{cid}-{i}``."""
    mapping: dict[str, Any] = {"root": {"id": "root", "message": None, "parent": None}}
    parent = "root"
    for index, body in enumerate(texts):
        node_id = f"{cid}-{index}"
        mapping[node_id] = {
            "id": node_id,
            "parent": parent,
            "message": {
                "author": {"role": "user" if index % 2 == 0 else "assistant"},
                "create_time": at + index,
                "content": {"content_type": "text", "parts": [body]},
            },
        }
        parent = node_id
    return {
        "id": cid,
        "title": title,
        "create_time": at,
        "update_time": at + 50,
        "mapping": mapping,
        "current_node": parent,
    }


def store_conversation(session: Session, owner_id: str, data: dict[str, Any]) -> int:
    conversations.save(session, owner_id=owner_id, item=explode(data))
    return conversations.get_pk(session, owner_id=owner_id, conversation_id=data["id"])


def make_share(
    session: Session,
    owner_id: str,
    data: dict[str, Any],
    *,
    visibility: shares.Visibility = "public",
    leaf: str | None = None,
    now: float = 1000.0,
    title: str | None = None,
) -> str:
    pk = store_conversation(session, owner_id, data)
    return shares.create(
        session,
        conversation_pk=pk,
        node_id=leaf or data["current_node"],
        owner_id=owner_id,
        visibility=visibility,
        title=title if title is not None else data["title"],
        now=now,
    )


def test_create_and_read_back(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        share_id = make_share(session, owner_id, chain("c1", "hi", "hello", title="Greeting"))
        share = shares.get(session, share_id=share_id)
    assert re.fullmatch(r"[0-9A-Za-z]{7}", share_id)
    assert share is not None
    assert (share.conversation_id, share.node_id, share.owner_id) == ("c1", "c1-1", owner_id)
    assert (share.visibility, share.title, share.views, share.saves, share.comments) == (
        "public",
        "Greeting",
        0,
        0,
        0,
    )
    assert share.created_at == share.updated_at == 1000.0


def test_ids_are_random(factory: sessionmaker[Session], owner_id: str) -> None:
    assert len({shares.new_id() for _ in range(500)}) == 500


def test_one_share_per_conversation(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        make_share(session, owner_id, chain("c1", "hi"))
        pk = conversations.get_pk(session, owner_id=owner_id, conversation_id="c1")
        found = shares.for_conversation(session, conversation_pk=pk)
        assert found is not None and found.conversation_id == "c1"
    with pytest.raises(IntegrityError), transaction(factory) as session:
        shares.create(
            session,
            conversation_pk=pk,
            node_id="c1-0",
            owner_id=owner_id,
            visibility="public",
            title=None,
            now=1.0,
        )


def test_deleting_the_conversation_deletes_its_share(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        share_id = make_share(session, owner_id, chain("c1", "hi"))
        conversations.remove(session, owner_id=owner_id, conversation_id="c1")
    with transaction(factory) as session:
        assert shares.get(session, share_id=share_id) is None


def test_feeds_hold_public_shares_only_in_each_order(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        hour = 3600.0
        old_popular = make_share(session, owner_id, chain("a", "x"), now=0.0)
        new_quiet = make_share(session, owner_id, chain("b", "x"), now=99.5 * hour)
        fresh_busy = make_share(session, owner_id, chain("c", "x"), now=99 * hour)
        make_share(session, owner_id, chain("d", "x"), visibility="unlisted", now=99.9 * hour)
        make_share(session, owner_id, chain("e", "x"), visibility="private", now=99.9 * hour)
        shares.add_views(session, counts={old_popular: 500, fresh_busy: 60, new_quiet: 1})
    now = 100 * hour
    with transaction(factory) as session:

        def page(kind: shares.FeedKind, **kw: Any) -> list[str]:
            found = shares.feed_page(session, kind=kind, offset=0, limit=10, now=now, **kw)
            return [meta.id for meta in found]

        assert page("new") == [new_quiet, fresh_busy, old_popular]
        assert page("top") == [old_popular, fresh_busy, new_quiet]
        # 500 views 100 hours old weigh less than 60 from the last hour, or 1 from just now
        assert page("trending") == [fresh_busy, new_quiet, old_popular]
        assert page("new", ids=[old_popular, "missing"]) == [old_popular]
        metas = shares.feed_page(session, kind="top", offset=1, limit=1, now=now)
    assert [(m.id, m.views, m.visibility) for m in metas] == [(fresh_busy, 60, "public")]


def test_add_views_is_one_statement_and_exact(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        ids = [make_share(session, owner_id, chain(f"c{i}", "x")) for i in range(5)]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        with transaction(factory) as session:
            shares.add_views(session, counts={share_id: i + 1 for i, share_id in enumerate(ids)})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE")]) == 1
    with transaction(factory) as session:
        assert [shares.get(session, share_id=i).views for i in ids] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]


def test_counters_move_atomically(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        share_id = make_share(session, owner_id, chain("c1", "x"))
        shares.bump(session, share_id=share_id, column="saves", delta=2)
        shares.bump(session, share_id=share_id, column="comments", delta=1)
        shares.bump(session, share_id=share_id, column="saves", delta=-1)
        share = shares.get(session, share_id=share_id)
    assert share is not None and (share.saves, share.comments) == (1, 1)


def test_owned_lists_every_visibility_with_the_conversation_id(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        other = users.create(session, name="other").id
        mine = make_share(session, owner_id, chain("c1", "x"), visibility="private")
        make_share(session, other, chain("c2", "x"))
        listed = shares.owned(session, owner_id=owner_id)
    assert [(m.id, m.visibility, m.conversation_id) for m in listed] == [(mine, "private", "c1")]


def branched() -> dict[str, Any]:
    """root -> u1 -> a1 -> {old (t=5), new (t=20) -> later (t=30)}; a2 below a1 too."""
    data = chain("t", "u1", "a1", at=1.0)

    def add(node_id: str, parent: str, at: float) -> None:
        data["mapping"][node_id] = {
            "id": node_id,
            "parent": parent,
            "message": {
                "author": {"role": "user"},
                "create_time": at,
                "content": {"content_type": "text", "parts": [node_id]},
            },
        }

    add("old", "t-1", 5.0)
    add("new", "t-1", 20.0)
    add("later", "new", 30.0)
    data["current_node"] = "later"
    return data


def test_shared_nodes_are_the_path_and_earlier_branches_never_later_turns() -> None:
    shape = tree.Tree.build(branched()["mapping"])
    at_10 = shares.shared_node_ids(shape, leaf="t-1", shared_at=10.0)
    assert at_10 == {"root", "t-0", "t-1"}  # nothing below the leaf
    at_25 = shares.shared_node_ids(shape, leaf="new", shared_at=25.0)
    assert at_25 == {"root", "t-0", "t-1", "old", "new"}  # 'later' is below the leaf
    at_10_new = shares.shared_node_ids(shape, leaf="new", shared_at=10.0)
    assert "old" in at_10_new and "new" in at_10_new
    shape_without_old = shares.shared_node_ids(shape, leaf="new", shared_at=4.0)
    assert "old" not in shape_without_old  # a branch made after the share is not shown
    assert shares.shared_node_ids(shape, leaf="missing", shared_at=99.0) == set()


def test_node_shape_matches_the_stored_tree(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        pk = store_conversation(session, owner_id, branched())
        shape = shares.node_shape(session, conversation_pk=pk)
    assert shape.path_to("later") == ["root", "t-0", "t-1", "new", "later"]
    assert set(shape.children["t-1"]) == {"old", "new"}


def test_search_public_matches_titles_and_shared_text_only(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        bread = make_share(
            session, owner_id, chain("a", "How to bake bread", "Knead the dough", title="Baking")
        )
        titled = make_share(session, owner_id, chain("b", "x"), title="Python_tips and tricks")
        # the match is below the shared leaf: not shared, so not found
        make_share(session, owner_id, chain("c", "hello", "kneading secrets"), leaf="c-0")
        make_share(session, owner_id, chain("d", "knead privately"), visibility="private")
        make_share(session, owner_id, chain("e", "knead unlisted"), visibility="unlisted")
    with transaction(factory) as session:
        assert shares.search_public(session, query="kneading doughs") == [bread]
        assert shares.search_public(session, query="BAKING") == [bread]
        assert shares.search_public(session, query="python_tips TRICKS") == [titled]
        assert shares.search_public(session, query="knead") == [bread]
        assert shares.search_public(session, query="?!") == []


def test_search_ignores_hidden_messages(factory: sessionmaker[Session], owner_id: str) -> None:
    data = chain("h", "visible words", "more words")
    data["mapping"]["h-0"]["message"]["author"] = {"role": "system"}
    data["mapping"]["h-0"]["message"]["content"]["parts"] = ["secret system prompt"]
    with transaction(factory) as session:
        make_share(session, owner_id, data)
    with transaction(factory) as session:
        assert shares.search_public(session, query="secret system prompt") == []
        assert len(shares.search_public(session, query="more words")) == 1
