"""Write transactions off the event loop; on SQLite, queued ones committed together."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

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


@pytest.fixture
def sqlite_writer(factory: sessionmaker[Session]) -> Writer:
    writer = Writer(factory)
    if not writer.batched:
        pytest.skip("SQLite only: elsewhere every unit runs in the thread pool")
    return writer


def names(factory: sessionmaker[Session]) -> set[str]:
    with factory() as session:
        return set(session.execute(select(users.c.name)).scalars())


async def test_units_commit_and_return_their_results(factory: sessionmaker[Session]) -> None:
    writer = Writer(factory)
    assert await writer.run(add_user("ann")) == "ann"
    assert names(factory) == {"ann"}
    assert writer.batched == (factory.kw["bind"].dialect.name == "sqlite")


async def run_queued(factory: sessionmaker[Session], *units: Awaitable[Any]) -> list[Any]:
    """Run units while another connection holds SQLite's write lock for a moment, so that
    they queue for the writer thread and share its transactions (elsewhere: just run)."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "sqlite":
        return list(await asyncio.gather(*units, return_exceptions=True))
    holder = engine.raw_connection()
    holder.driver_connection.execute("BEGIN IMMEDIATE")
    tasks = [asyncio.ensure_future(unit) for unit in units]
    await asyncio.sleep(0.05)
    holder.driver_connection.execute("COMMIT")
    holder.close()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


@pytest.mark.parametrize("queued", [False, True])
async def test_a_failing_unit_fails_alone(factory: sessionmaker[Session], queued: bool) -> None:
    writer = Writer(factory)
    units = [writer.run(add_user(n)) for n in ("u1", "bad1", "u2", "bad2", "u3")]
    if queued:
        results = await run_queued(factory, *units)
    else:
        results = await asyncio.gather(*units, return_exceptions=True)
    assert results[0::2] == ["u1", "u2", "u3"]
    assert [str(r) for r in results[1::2]] == ["bad1 is refused", "bad2 is refused"]
    assert names(factory) == {"u1", "u2", "u3"}


async def test_many_queued_units_from_many_tasks(factory: sessionmaker[Session]) -> None:
    writer = Writer(factory)
    done = await run_queued(factory, *[writer.run(add_user(f"n{i}")) for i in range(50)])
    assert done == [f"n{i}" for i in range(50)] and len(names(factory)) == 50


async def test_the_worker_thread_goes_when_idle(
    factory: sessionmaker[Session], sqlite_writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = sqlite_writer
    monkeypatch.setattr(writer_module, "IDLE_SECONDS", 0.5)
    await run_queued(factory, writer.run(add_user("first")))
    assert writer._thread is not None  # it ran the queued unit, and waits a little
    deadline = time.monotonic() + 10
    while writer._thread is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert writer._thread is None
    assert await writer.run(add_user("again")) == "again"


async def test_units_run_in_the_writer_thread_and_commit_in_order(sqlite_writer: Writer) -> None:
    writer = sqlite_writer
    order: list[tuple[int, str]] = []

    def unit(index: int) -> Callable[[Db], None]:
        def work(db: Db) -> None:
            order.append((index, threading.current_thread().name))

        return work

    await asyncio.gather(*[writer.run(unit(i)) for i in range(20)])
    assert order == [(i, "parley-chat-writer") for i in range(20)]  # never on the loop


async def test_a_held_lock_queues_the_unit_without_blocking_the_loop(
    factory: sessionmaker[Session], sqlite_writer: Writer
) -> None:
    """Another connection writes: the unit waits in the writer thread, the loop runs on,
    and later units queue behind it in order."""
    writer = sqlite_writer
    engine = factory.kw["bind"]
    holder = engine.raw_connection()
    holder.driver_connection.execute("BEGIN IMMEDIATE")  # the write lock, held
    loop_thread = threading.get_ident()
    order: list[str] = []

    def first(db: Db) -> int:
        order.append("first")
        return threading.get_ident()

    def second(db: Db) -> None:
        order.append("second")

    pending = asyncio.ensure_future(writer.run(first))
    await asyncio.sleep(0.05)
    following = asyncio.ensure_future(writer.run(second))  # queued behind, not run at once
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0.01)
        ticks += 1  # the loop is not blocked while the lock is held
    assert not pending.done() and order == []
    holder.driver_connection.execute("COMMIT")
    holder.close()
    assert await pending != loop_thread
    await following
    assert order == ["first", "second"] and ticks == 5


async def test_a_lock_held_too_long_fails_the_unit_and_the_next_one_commits(
    factory: sessionmaker[Session], sqlite_writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    writer = sqlite_writer
    monkeypatch.setattr(writer_module, "LOCK_SECONDS", 0.2)
    holder = factory.kw["bind"].raw_connection()
    holder.driver_connection.execute("BEGIN IMMEDIATE")  # another process, writing on
    with pytest.raises(OperationalError, match="locked"):
        await writer.run(add_user("late"))
    holder.driver_connection.execute("COMMIT")
    holder.close()
    assert await writer.run(add_user("next")) == "next"
    assert names(factory) == {"next"}


async def test_the_writers_commits_are_checkpointed_in_the_background(
    factory: sessionmaker[Session], sqlite_writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = sqlite_writer
    monkeypatch.setattr(writer_module, "CHECKPOINT_EVERY", 3)
    started: list[str] = []
    monkeypatch.setattr(
        writer, "_checkpoint", lambda: started.append(threading.current_thread().name)
    )
    for index in range(7):
        await writer.run(add_user(f"c{index}"))
    deadline = time.monotonic() + 5
    while len(started) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert started == ["parley-checkpoint", "parley-checkpoint"]


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
