"""``parley.store.direct``: compiled-once statements on the DB-API connection, and Reader."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from parley.store import direct, users
from parley.store.db import transaction
from parley.store.direct import Direct, Query, Reader
from parley.store.tables import users as users_table

BY_NAME = Query(
    select(users_table.c.id, users_table.c.name, users_table.c.is_admin)
    .where(users_table.c.name == bindparam("name"))
    .limit(1)  # a value the statement holds itself
)


def test_a_query_binds_by_name_and_keeps_its_own_values(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        db = direct.of(session)
        row = db.first(BY_NAME, name="owner")
        assert row is not None and row[:2] == (owner_id, "owner") and bool(row[2])
        assert db.first(BY_NAME, name="nobody") is None
        assert db.all(BY_NAME, name="owner")[0][0] == owner_id
        assert db.scalar(BY_NAME, name="owner") == owner_id


def test_of_a_session_runs_inside_its_transaction(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with factory() as session, session.begin():
        users.create(session, name="uncommitted")
        assert direct.of(session).scalar(BY_NAME, name="uncommitted") is not None
        session.rollback()
    with transaction(factory) as session:
        assert direct.of(session).scalar(BY_NAME, name="uncommitted") is None


def test_a_statement_written_per_dialect(engine: Engine) -> None:
    seen: list[str] = []
    query = Query(lambda dialect: (seen.append(dialect), select(users_table.c.id))[1])
    reader = Reader(engine)
    try:
        reader.run(lambda db: db.all(query))
        reader.run(lambda db: db.all(query))
    finally:
        reader.close()
    assert seen == [engine.dialect.name]  # compiled once


def test_the_reader_sees_commits_and_cannot_write(
    engine: Engine, factory: sessionmaker[Session], owner_id: str
) -> None:
    reader = Reader(engine)
    observed: list[str] = []
    reader.observe = observed.append
    try:
        assert reader.run(lambda db: db.scalar(BY_NAME, name="later")) is None
        with transaction(factory) as session:
            users.create(session, name="later")
        assert reader.run(lambda db: db.scalar(BY_NAME, name="later")) is not None
        assert reader.run_single(lambda db: db.scalar(BY_NAME, name="later")) is not None
        assert len(observed) == 3 and all("users" in sql for sql in observed)
        if reader.inline:  # SQLite: the kept connections are query_only
            with pytest.raises(Exception, match="readonly"):
                reader.run(lambda db: db.connection.execute("DELETE FROM users"))
    finally:
        reader.close()
    with transaction(factory) as session:
        assert users.by_name(session, name="later") is not None


def test_each_thread_reads_on_its_own_connection(engine: Engine, owner_id: str) -> None:
    reader = Reader(engine)
    connections: list[int] = []

    def note(db: Direct) -> None:
        connections.append(id(db.connection))

    try:
        reader.run(note)
        reader.run(note)
        worker = threading.Thread(target=reader.run, args=(note,))
        worker.start()
        worker.join()
    finally:
        reader.close()
    if reader.inline:
        assert connections[0] == connections[1] != connections[2]
