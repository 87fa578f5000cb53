"""Shared fixtures: a real store per test, on SQLite always and PostgreSQL when configured.

``PARLEY_TEST_DATABASE_URL`` enables the PostgreSQL run of every test that takes the
``store`` fixture (each session gets its own schema; tables are emptied between tests).
``PARLEY_TEST_REDIS_URL`` enables the Redis tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from parley.config import Settings, normalize_database_url
from parley.store import users
from parley.store.db import create_db_engine, open_engine, session_factory, transaction
from parley.store.tables import metadata

POSTGRES_URL = os.environ.get("PARLEY_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("PARLEY_TEST_REDIS_URL")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="set PARLEY_TEST_DATABASE_URL to run against PostgreSQL"
)
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="set PARLEY_TEST_REDIS_URL to run against Redis"
)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the real ~/.local/share/parley or a developer's PARLEY_* settings."""
    for key in list(os.environ):
        if key.startswith("PARLEY_") and not key.startswith("PARLEY_TEST_"):
            monkeypatch.delenv(key)
    home = tmp_path / "parley-home"
    monkeypatch.setenv("PARLEY_HOME", str(home))
    return home


@pytest.fixture
def settings(_isolated_home: Path) -> Settings:
    return Settings(home=_isolated_home)


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[Engine]:
    assert POSTGRES_URL
    schema = f"parley_test_{uuid.uuid4().hex[:10]}"
    url = normalize_database_url(POSTGRES_URL)
    admin = create_db_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = open_engine(_with_search_path(url, schema))
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _with_search_path(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[needs_postgres, pytest.mark.postgres])]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL: a SQLite file, or the session's PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    engine: Engine = request.getfixturevalue("_postgres_engine")
    with engine.begin() as conn:
        names = ", ".join(table.name for table in reversed(metadata.sorted_tables))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield engine.url.render_as_string(hide_password=False)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = open_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def owner_id(factory: sessionmaker[Session]) -> str:
    with transaction(factory) as session:
        return users.local_owner(session).id
