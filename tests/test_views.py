"""View counting: once per visitor per day, buffered (no write per view), exact after a flush."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from parley import views
from parley.store import shares
from parley.store.db import create_db_engine, session_factory, transaction
from tests.conftest import REDIS_URL, needs_redis
from tests.store.test_shares import chain, make_share

MakeCounter = Callable[..., views.ViewCounter]


class Day:
    """An injected clock for days."""

    def __init__(self) -> None:
        self.value = "2024-05-01"

    def __call__(self) -> str:
        return self.value


@pytest.fixture(params=["memory", pytest.param("redis", marks=[needs_redis, pytest.mark.redis])])
def make_counter(request: pytest.FixtureRequest) -> Iterator[MakeCounter]:
    """Counters of one kind; Redis ones made by one call share a unique key prefix."""
    prefix = f"parley-test:{uuid.uuid4().hex}:"
    made: list[Any] = []

    def make(day: Callable[[], str] | None = None) -> views.ViewCounter:
        counter: Any
        if request.param == "memory":
            counter = views.MemoryViewCounter(day=day)
        else:
            assert REDIS_URL
            counter = views.RedisViewCounter(REDIS_URL, prefix=prefix, day=day)
        made.append(counter)
        return counter

    yield make
    if request.param == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL or "")
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
        for counter in made:
            counter.close()


@pytest.fixture
def share_ids(factory: sessionmaker[Session], owner_id: str) -> list[str]:
    with transaction(factory) as session:
        return [make_share(session, owner_id, chain(f"c{i}", "x")) for i in range(3)]


def stored_views(factory: sessionmaker[Session], ids: list[str]) -> list[int]:
    with transaction(factory) as session:
        return [shares.get(session, share_id=i).views for i in ids]  # type: ignore[union-attr]


def test_once_per_visitor_per_share_per_day(make_counter: MakeCounter) -> None:
    day = Day()
    counter = make_counter(day)
    assert counter.record("s1", "v1") is True
    assert counter.record("s1", "v1") is False
    assert counter.record("s1", "v2") is True
    assert counter.record("s2", "v1") is True
    day.value = "2024-05-02"
    assert counter.record("s1", "v1") is True
    assert counter.record("s1", "v1") is False
    assert counter.pending() == {"s1": 3, "s2": 1}


def test_counts_are_exact_after_a_flush(
    make_counter: MakeCounter, factory: sessionmaker[Session], share_ids: list[str]
) -> None:
    counter = make_counter()
    a, b, _ = share_ids
    for visitor in range(7):
        counter.record(a, f"v{visitor}")
        counter.record(a, f"v{visitor}")
    counter.record(b, "v0")
    assert counter.flush(factory) == 8
    assert counter.pending() == {}
    assert stored_views(factory, share_ids) == [7, 1, 0]
    counter.record(b, "v1")
    assert counter.flush(factory) == 1
    assert counter.flush(factory) == 0
    assert stored_views(factory, share_ids) == [7, 2, 0]


def test_ten_thousand_views_write_nothing_until_the_flush(
    make_counter: MakeCounter,
    factory: sessionmaker[Session],
    share_ids: list[str],
) -> None:
    counter = make_counter()
    statements: list[str] = []

    def note(*args: Any) -> None:
        statements.append(args[2])

    engine = factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", note)
    try:
        for i in range(10_000):
            assert counter.record(share_ids[i % 3], f"visitor-{i}")
        assert statements == []
        assert counter.flush(factory) == 10_000
    finally:
        event.remove(engine, "before_cursor_execute", note)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1
    assert stored_views(factory, share_ids) == [3334, 3333, 3333]


def test_a_failed_flush_keeps_the_counts(
    make_counter: MakeCounter,
    factory: sessionmaker[Session],
    share_ids: list[str],
    tmp_path: Path,
) -> None:
    counter = make_counter()
    counter.record(share_ids[0], "v")
    broken = session_factory(create_db_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    with pytest.raises(Exception, match="shares"):
        counter.flush(broken)  # no tables there
    assert counter.pending() == {share_ids[0]: 1}
    assert counter.flush(factory) == 1
    assert stored_views(factory, share_ids) == [1, 0, 0]


@needs_redis
@pytest.mark.redis
def test_replicas_sharing_redis_never_double_count(
    factory: sessionmaker[Session], share_ids: list[str]
) -> None:
    assert REDIS_URL
    prefix = f"parley-test:{uuid.uuid4().hex}:"
    first = views.RedisViewCounter(REDIS_URL, prefix=prefix)
    second = views.RedisViewCounter(REDIS_URL, prefix=prefix)
    try:
        counted = 0
        for i in range(300):  # each visitor comes back through the other replica
            counted += first.record(share_ids[i % 3], f"v{i}")
            counted += second.record(share_ids[i % 3], f"v{i}")
        assert counted == 300
        assert first.pending() == second.pending() == dict.fromkeys(share_ids, 100)
        barrier = threading.Barrier(2)
        results: list[int] = []

        def flush(counter: views.RedisViewCounter) -> None:
            barrier.wait()
            results.append(counter.flush(factory))

        threads = [threading.Thread(target=flush, args=(c,)) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(results) == counted
        assert sum(stored_views(factory, share_ids)) == counted
        assert first.pending() == second.pending() == {}
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("agent", "bot"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", False),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("facebookexternalhit/1.1", True),
        ("Slackbot-LinkExpanding 1.0", True),
        ("curl/8.4.0", True),
        ("python-requests/2.31", True),
        ("", True),
        (None, True),
    ],
)
def test_bots(agent: str | None, bot: bool) -> None:
    assert views.is_bot(agent) is bot


def test_visitor_keys() -> None:
    signed_in = views.visitor_key(user_id="u1", address="1.2.3.4", user_agent="A")
    assert signed_in == views.visitor_key(user_id="u1", address="5.6.7.8", user_agent="B")
    anonymous = views.visitor_key(user_id=None, address="1.2.3.4", user_agent="A")
    assert "1.2.3.4" not in anonymous
    assert anonymous != views.visitor_key(user_id=None, address="1.2.3.4", user_agent="B")


def test_the_periodic_flush_runs_until_cancelled() -> None:
    class Recording:
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop, self.calls, self.done = loop, 0, asyncio.Event()

        def record(self, share_id: str, visitor: str) -> bool:
            return True

        def pending(self) -> dict[str, int]:
            return {}

        def flush(self, factory: Any) -> int:
            self.calls += 1
            if self.calls == 3:
                self.loop.call_soon_threadsafe(self.done.set)
            if self.calls == 2:
                raise RuntimeError("database away")  # logged; the loop carries on
            return 0

    async def scenario() -> int:
        counter = Recording(asyncio.get_running_loop())
        task = asyncio.create_task(views.flush_periodically(counter, None, every=0.001))  # type: ignore[arg-type]
        await asyncio.wait_for(counter.done.wait(), timeout=30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return counter.calls

    assert asyncio.run(scenario()) >= 3
