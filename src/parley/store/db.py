"""Engines and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite connections get WAL, foreign keys, a busy timeout and ``synchronous=NORMAL``.
:func:`open_engine` applies pending migrations on first use, so a fresh ``PARLEY_HOME``
needs no setup step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

LOCK_WAIT_SECONDS = 10  # how long a SQLite write waits for another connection's
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={LOCK_WAIT_SECONDS * 1000}",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-16384",
    "PRAGMA temp_store=MEMORY",
)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str) -> Engine:
    """An engine for ``url`` with Parley's connection settings; runs no migrations."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": LOCK_WAIT_SECONDS},
            pool_size=16,
            max_overflow=32,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def open_engine(url: str, *, migrate: bool = True) -> Engine:
    """An engine whose schema is at the newest revision (migrating it if needed)."""
    engine = create_db_engine(url)
    if migrate:
        from parley.store.migrate import ensure_schema

        ensure_schema(engine)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with factory() as session, session.begin():
        yield session
