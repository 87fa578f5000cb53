"""conversation_counts: kept exact by triggers through every way conversations change."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from parley.store import conversations, users
from parley.store.db import transaction
from parley.store.migrate import alembic_config, upgrade
from parley.store.rows import explode
from parley.store.tables import conversation_counts
from parley.store.tables import conversations as conversations_table


def item(cid: str, archived: bool = False) -> Any:
    return explode({"id": cid, "title": cid, "mapping": {}, "is_archived": archived})


def counted(factory: sessionmaker[Session], owner_id: str) -> tuple[int, int]:
    with transaction(factory) as session:
        row = session.execute(
            select(conversation_counts.c.total, conversation_counts.c.archived).where(
                conversation_counts.c.owner_id == owner_id
            )
        ).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def actual(factory: sessionmaker[Session], owner_id: str) -> tuple[int, int]:
    with transaction(factory) as session:
        rows = session.execute(
            select(conversations_table.c.is_archived).where(
                conversations_table.c.owner_id == owner_id
            )
        ).all()
    return len(rows), sum(1 for row in rows if row.is_archived)


def test_counts_follow_inserts_archives_and_deletes(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        conversations.save_many(
            session, owner_id=owner_id, items=[item("a"), item("b", True), item("c")]
        )
    assert counted(factory, owner_id) == actual(factory, owner_id) == (3, 1)
    with transaction(factory) as session:
        conversations.set_fields(session, owner_id=owner_id, conversation_id="a", is_archived=True)
        conversations.set_fields(session, owner_id=owner_id, conversation_id="a", is_archived=True)
        conversations.set_fields(session, owner_id=owner_id, conversation_id="c", title="renamed")
    assert counted(factory, owner_id) == actual(factory, owner_id) == (3, 2)
    with transaction(factory) as session:
        conversations.remove(session, owner_id=owner_id, conversation_id="b")
    assert counted(factory, owner_id) == actual(factory, owner_id) == (2, 1)
    with transaction(factory) as session:
        assert conversations.count(session, owner_id=owner_id) == 2
        assert conversations.count(session, owner_id=owner_id, is_archived=True) == 1
        assert conversations.count(session, owner_id=owner_id, is_archived=False) == 1
        conversations.remove_all(session, owner_id=owner_id)
    assert counted(factory, owner_id) == (0, 0)


def test_counts_are_per_owner_and_go_with_the_user(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        other = users.create(session, name="other").id
        conversations.save_many(session, owner_id=owner_id, items=[item("a")])
        conversations.save_many(session, owner_id=other, items=[item("a"), item("b")])
    assert counted(factory, owner_id) == (1, 0)
    assert counted(factory, other) == (2, 0)
    with transaction(factory) as session:
        users.remove(session, user_id=other)
    assert counted(factory, other) == (0, 0)
    assert counted(factory, owner_id) == (1, 0)


def test_a_time_range_is_counted_from_the_rows(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    early = explode({"id": "e", "create_time": 100.0, "mapping": {}})
    late = explode({"id": "l", "create_time": 200.0, "mapping": {}})
    with transaction(factory) as session:
        conversations.save_many(session, owner_id=owner_id, items=[early, late])
        assert conversations.count(session, owner_id=owner_id, since=150.0) == 1
        assert conversations.count(session, owner_id=owner_id, until=150.0) == 1


def test_the_upgrade_fills_the_counts_from_existing_rows(engine: Engine, owner_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM conversations"))
        conn.execute(text("DELETE FROM conversation_counts"))
    command.downgrade(alembic_config(engine), "0010_activity")  # before the counts
    with engine.begin() as conn:
        for cid, archived in (("x", True), ("y", False)):
            conn.execute(
                text(
                    "INSERT INTO conversations (id, owner_id, is_archived, is_starred, extra, "
                    "source, message_count) VALUES (:id, :owner, :a, false, '{}', 'import', 0)"
                ),
                {"id": cid, "owner": owner_id, "a": archived},
            )
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(
            select(conversation_counts.c.total, conversation_counts.c.archived)
        ).one()
    assert (row.total, row.archived) == (2, 1)
