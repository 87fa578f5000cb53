"""Comments (soft delete), saves (once per user) and reports at rest."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from parley.store import comments, users
from parley.store.db import transaction
from parley.store.tables import comments as comments_table
from tests.store.test_shares import chain, make_share


def setup(factory: sessionmaker[Session], owner_id: str) -> tuple[str, str]:
    with transaction(factory) as session:
        share_id = make_share(session, owner_id, chain("c1", "hi", "hello"))
        reader = users.create(session, name="reader").id
    return share_id, reader


def test_comments_round_trip_edit_and_soft_delete(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    share_id, reader = setup(factory, owner_id)
    with transaction(factory) as session:
        first = comments.add(session, share_id=share_id, author_id=reader, node_id="c1-1", body="a")
        second = comments.add(
            session, share_id=share_id, author_id=owner_id, node_id="c1-0", body="b"
        )
        comments.edit(session, comment_id=first, body="a, edited")
    with transaction(factory) as session:
        got = comments.get(session, comment_id=first)
        assert got is not None
        assert (got.author_name, got.node_id, got.body, got.deleted) == (
            "reader",
            "c1-1",
            "a, edited",
            False,
        )
        assert got.edited_at is not None and got.edited_at >= got.created_at
        assert comments.mark_deleted(session, comment_id=second) is True
        assert comments.mark_deleted(session, comment_id=second) is False
        assert comments.mark_deleted(session, comment_id="missing") is False
        listed = comments.for_share(session, share_id=share_id)
        body = session.execute(
            select(comments_table.c.body).where(comments_table.c.id == second)
        ).scalar()
    assert [c.id for c in listed] == [first]
    assert body == ""  # the deleted text is gone, not hidden


def test_saves_count_once_per_user(factory: sessionmaker[Session], owner_id: str) -> None:
    share_id, reader = setup(factory, owner_id)
    with transaction(factory) as session:
        assert comments.add_save(session, user_id=reader, share_id=share_id) is True
        assert comments.add_save(session, user_id=reader, share_id=share_id) is False
        assert comments.is_saved(session, user_id=reader, share_id=share_id)
        assert not comments.is_saved(session, user_id=owner_id, share_id=share_id)
    with transaction(factory) as session:
        assert comments.remove_save(session, user_id=reader, share_id=share_id) is True
        assert comments.remove_save(session, user_id=reader, share_id=share_id) is False
        assert not comments.is_saved(session, user_id=reader, share_id=share_id)


def test_reports_list_all_or_one_reporters(factory: sessionmaker[Session], owner_id: str) -> None:
    share_id, reader = setup(factory, owner_id)
    with transaction(factory) as session:
        mine = comments.add_report(session, share_id=share_id, reporter_id=reader, reason="spam")
        comments.add_report(session, share_id=share_id, reporter_id=None, reason="abuse")
    with transaction(factory) as session:
        assert {r.reason for r in comments.list_reports(session)} == {"spam", "abuse"}
        assert comments.list_reports(session, reporter_id=reader) == [mine]


def test_deleting_a_user_deletes_their_comments_and_saves(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    share_id, reader = setup(factory, owner_id)
    with transaction(factory) as session:
        comments.add(session, share_id=share_id, author_id=reader, node_id="c1-1", body="a")
        comments.add_save(session, user_id=reader, share_id=share_id)
        report = comments.add_report(session, share_id=share_id, reporter_id=reader, reason="x")
    with transaction(factory) as session:
        users.remove(session, user_id=reader)
    with transaction(factory) as session:
        assert comments.for_share(session, share_id=share_id) == []
        assert not comments.is_saved(session, user_id=reader, share_id=share_id)
        (kept,) = comments.list_reports(session)
    assert (kept.id, kept.reporter_id) == (report.id, None)
