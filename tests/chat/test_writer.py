"""Write transactions off the event loop; on SQLite, queued ones committed together."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from parley.chat import writer as writer_module
from parley.chat.writer import Writer
from parley.errors import Conflict
from parley.store import direct
from parley.store.direct import Db, Query
from parley.store.tables import users

pytestmark = pytest.mark.anyio


ADD = Query(
    users.insert().values(
        id=bindparam("name"), name=bindparam("name"), is_admin=False, created_at=1.0
    )
)


def add_user(name: str) -> Callable[[Db], str]:
    def work(db: Db) -> str:
        if name.startswith("bad"):
            raise Conflict(f"{name} is refused")
        direct.of(db).execute(ADD, name=name)
        return name

    return work


def names(factory: sessionmaker[Session]) -> set[str]:
    with factory() as session:
        return set(session.execute(select(users.c.name)).scalars())


async def test_units_commit_and_return_their_results(factory: sessionmaker[Session]) -> None:
    writer = Writer(factory)
    assert await writer.run(add_user("ann")) == "ann"
    assert names(factory) == {"ann"}
    assert writer.batched == (factory.kw["bind"].dialect.name == "sqlite")


async def test_a_failing_unit_fails_alone(factory: sessionmaker[Session]) -> None:
    writer = Writer(factory)
    results = await asyncio.gather(
        *[writer.run(add_user(n)) for n in ("u1", "bad1", "u2", "bad2", "u3")],
        return_exceptions=True,
    )
    assert results[0::2] == ["u1", "u2", "u3"]
    assert [str(r) for r in results[1::2]] == ["bad1 is refused", "bad2 is refused"]
    assert names(factory) == {"u1", "u2", "u3"}


async def test_many_units_from_many_tasks(factory: sessionmaker[Session]) -> None:
    writer = Writer(factory)
    done = await asyncio.gather(*[writer.run(add_user(f"n{i}")) for i in range(50)])
    assert len(done) == 50 and len(names(factory)) == 50


async def test_the_worker_thread_goes_when_idle(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = Writer(factory)
    if not writer.batched:
        pytest.skip("only SQLite has a writer thread")
    monkeypatch.setattr(writer_module, "IDLE_SECONDS", 0.05)
    await writer.run(add_user("first"))
    deadline = time.monotonic() + 10
    while writer._thread is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert writer._thread is None
    assert await writer.run(add_user("again")) == "again"


async def test_units_run_off_the_event_loop(factory: sessionmaker[Session]) -> None:
    loop_thread = threading.get_ident()

    def where(db: Db) -> int:
        return threading.get_ident()

    assert await Writer(factory).run(where) != loop_thread


async def test_a_database_error_reaches_its_caller_as_sqlalchemys(
    factory: sessionmaker[Session],
) -> None:
    from sqlalchemy.exc import IntegrityError

    writer = Writer(factory)
    await writer.run(add_user("twice"))
    results = await asyncio.gather(
        writer.run(add_user("twice")), writer.run(add_user("once")), return_exceptions=True
    )
    assert isinstance(results[0], IntegrityError) and results[1] == "once"
    assert names(factory) == {"twice", "once"}
