"""Share view counting: deduplicated per visitor per day, buffered, bots ignored.

Contract of a :class:`ViewCounter`:

* :meth:`~ViewCounter.record` counts a view of a share by a visitor (an opaque string:
  use :func:`visitor_key`) and answers True only the first time that visitor is seen for
  that share on the current day (``day()``, UTC by default). It never touches the database;
* :meth:`~ViewCounter.pending` is what has been counted but not yet written;
* :meth:`~ViewCounter.flush` drains the buffer and adds it to ``shares.views`` in one
  transaction, returning how many views it wrote. A batch whose write fails is put back.
  After a flush, ``shares.views`` is exact.

:class:`MemoryViewCounter` is for one process. :class:`RedisViewCounter` shares state
across replicas: ``SET NX`` with a two-day TTL per (day, share, visitor) for dedupe and a
hash of pending counts that a Lua script drains atomically (``HGETALL`` + ``DEL``), so two
replicas flushing at once never write the same view twice. Visitors are stored hashed.

The caller filters bots with :func:`is_bot` before recording (an empty user agent counts
as a bot; headless browsers do not, so browser tests see their views).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from parley.store import shares
from parley.store.db import transaction

log = logging.getLogger("parley.views")

DayFn = Callable[[], str]
MAX_REMEMBERED = 5_000_000  # visitor-day pairs kept in memory before the oldest day is dropped
_BOTS = re.compile(
    r"bot|crawl|spider|slurp|scrape|curl|wget|python-|httpx|aiohttp|go-http-client|java/|"
    r"libwww|okhttp|node-fetch|axios|facebookexternalhit|embedly|preview|monitor|pingdom|"
    r"uptime|lighthouse|feedfetcher|validator|archiver|phantomjs",
    re.IGNORECASE,
)


def utc_day() -> str:
    return datetime.now(UTC).date().isoformat()


def is_bot(user_agent: str | None) -> bool:
    """Whether a User-Agent looks like a crawler, a link preview or a script."""
    return not user_agent or not user_agent.strip() or bool(_BOTS.search(user_agent))


def visitor_key(*, user_id: str | None, address: str, user_agent: str | None) -> str:
    """Who is viewing: the account when signed in, else the address and browser."""
    if user_id:
        return f"u:{user_id}"
    return "a:" + hashlib.sha256(f"{address}|{user_agent or ''}".encode()).hexdigest()[:32]


def _digest(share_id: str, visitor: str) -> bytes:
    return hashlib.blake2b(f"{share_id}\0{visitor}".encode(), digest_size=12).digest()


def write_counts(factory: sessionmaker[Session], counts: dict[str, int]) -> int:
    """Add ``counts`` to ``shares.views`` in one transaction; the number of views written."""
    if counts:
        with transaction(factory) as session:
            shares.add_views(session, counts=counts)
    return sum(counts.values())


class ViewCounter(Protocol):
    def record(self, share_id: str, visitor: str) -> bool: ...

    def pending(self) -> dict[str, int]: ...

    def flush(self, factory: sessionmaker[Session]) -> int: ...


class MemoryViewCounter:
    """One process's counter; forgets the visitors of a day when the day changes."""

    def __init__(self, *, day: DayFn | None = None) -> None:
        self._day_fn = day or utc_day
        self._lock = threading.Lock()
        self._day: str | None = None
        self._seen: set[bytes] = set()
        self._pending: dict[str, int] = {}

    def record(self, share_id: str, visitor: str) -> bool:
        today = self._day_fn()
        key = _digest(share_id, visitor)
        with self._lock:
            if today != self._day or len(self._seen) >= MAX_REMEMBERED:
                self._day, self._seen = today, set()
            if key in self._seen:
                return False
            self._seen.add(key)
            self._pending[share_id] = self._pending.get(share_id, 0) + 1
            return True

    def pending(self) -> dict[str, int]:
        with self._lock:
            return dict(self._pending)

    def flush(self, factory: sessionmaker[Session]) -> int:
        with self._lock:
            batch, self._pending = self._pending, {}
        try:
            return write_counts(factory, batch)
        except Exception:
            with self._lock:
                for share_id, count in batch.items():
                    self._pending[share_id] = self._pending.get(share_id, 0) + count
            raise


class RedisViewCounter:
    """Counts shared by every replica through one Redis (see the module contract)."""

    RECORD = (
        "if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then "
        "redis.call('HINCRBY', KEYS[2], ARGV[2], 1) return 1 end return 0"
    )
    DRAIN = "local v = redis.call('HGETALL', KEYS[1]) redis.call('DEL', KEYS[1]) return v"
    SEEN_TTL = 2 * 86400

    def __init__(
        self, url: str, *, prefix: str = "parley:views:", day: DayFn | None = None
    ) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(url)
        self._record = self._redis.register_script(self.RECORD)
        self._drain = self._redis.register_script(self.DRAIN)
        self._prefix = prefix
        self._day_fn = day or utc_day
        self._pending_key = f"{prefix}pending"

    def record(self, share_id: str, visitor: str) -> bool:
        seen = f"{self._prefix}seen:{self._day_fn()}:{_digest(share_id, visitor).hex()}"
        counted = self._record(keys=[seen, self._pending_key], args=[self.SEEN_TTL, share_id])
        return bool(int(counted))

    def pending(self) -> dict[str, int]:
        raw = self._redis.hgetall(self._pending_key)
        return {key.decode(): int(value) for key, value in raw.items()}

    def flush(self, factory: sessionmaker[Session]) -> int:
        flat = self._drain(keys=[self._pending_key])
        batch = {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        try:
            return write_counts(factory, batch)
        except Exception:
            if batch:
                pipe = self._redis.pipeline()
                for share_id, count in batch.items():
                    pipe.hincrby(self._pending_key, share_id, count)
                pipe.execute()
            raise

    def close(self) -> None:
        self._redis.close()


async def flush_periodically(
    counter: ViewCounter, factory: sessionmaker[Session], *, every: float
) -> None:
    """Flush ``counter`` every ``every`` seconds until cancelled (errors are logged)."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(counter.flush, factory)
        except Exception:
            log.exception("could not write buffered share views; will retry")
