"""Rate limits: fixed-window counters keyed by token or client address.

``MemoryLimiter`` keeps counters in-process (one server). ``RedisLimiter`` keeps them in
Redis so that every replica shares one budget. Both answer :meth:`Limiter.hit` with
``None`` when the request may go ahead, or the number of seconds until the window resets.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from parley.errors import BadRequest


@dataclass(frozen=True)
class Rule:
    """``count`` requests per ``seconds``; parsed from strings like ``50/hour``."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rule:
        units = {
            "second": 1,
            "minute": 60,
            "m": 60,
            "hour": 3600,
            "h": 3600,
            "day": 86400,
            "d": 86400,
        }
        try:
            count, unit = text.strip().split("/")
            unit = unit.strip().lower()
            return cls(int(count), units[unit if unit in units else unit.rstrip("s") or "second"])
        except (ValueError, KeyError):
            raise BadRequest(
                f"rate limit {text!r} is not of the form N/second, N/minute, N/hour or N/day"
            ) from None

    def __str__(self) -> str:
        return f"{self.count} per {self.seconds}s"


class Limiter(Protocol):
    blocking: bool  # whether hit() waits on the network (callers run it off the event loop)

    def hit(self, key: str, rule: Rule) -> int | None: ...


class Clock(Protocol):
    def __call__(self) -> float: ...


class MemoryLimiter:
    blocking = False

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, rule: Rule) -> int | None:
        now = self._clock()
        window = int(now // rule.seconds)
        with self._lock:
            if len(self._windows) > 100_000:
                self._windows = {k: v for k, v in self._windows.items() if v[0] >= window}
            start, used = self._windows.get(key, (window, 0))
            if start != window:
                start, used = window, 0
            if used >= rule.count:
                return max(1, math.ceil((window + 1) * rule.seconds - now))
            self._windows[key] = (start, used + 1)
            return None


class RedisLimiter:
    """Shared counters: one INCR (and EXPIRE on first use) per hit, atomically."""

    SCRIPT = (
        "local n = redis.call('INCR', KEYS[1]) "
        "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
        "return {n, redis.call('TTL', KEYS[1])}"
    )

    blocking = True

    def __init__(self, url: str, *, prefix: str = "parley:rl:", clock: Clock | None = None) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._script = self._redis.register_script(self.SCRIPT)
        self._prefix = prefix
        self._clock = clock or time.time

    def hit(self, key: str, rule: Rule) -> int | None:
        now = self._clock()
        window = int(now // rule.seconds)
        key = f"{self._prefix}{key}:{rule.seconds}:{window}"
        used, _ttl = self._script(keys=[key], args=[rule.seconds + 1])
        if int(used) > rule.count:
            return max(1, math.ceil((window + 1) * rule.seconds - now))
        return None
