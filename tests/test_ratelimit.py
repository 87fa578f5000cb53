"""Rate limit rules and counters: fixed windows in memory and in Redis (when configured)."""

from __future__ import annotations

import uuid

import pytest

from parley.errors import BadRequest
from parley.ratelimit import MemoryLimiter, RedisLimiter, Rule
from tests.conftest import REDIS_URL, needs_redis


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("50/hour", Rule(50, 3600)),
        ("50/hours", Rule(50, 3600)),
        ("50/h", Rule(50, 3600)),
        ("3000/minute", Rule(3000, 60)),
        ("10/m", Rule(10, 60)),
        ("5/second", Rule(5, 1)),
        ("5/s", Rule(5, 1)),
        ("1000/day", Rule(1000, 86400)),
        (" 7 / Minutes ", Rule(7, 60)),
    ],
)
def test_rule_parse(text: str, rule: Rule) -> None:
    assert Rule.parse(text) == rule


@pytest.mark.parametrize("text", ["", "50", "fifty/hour", "50/fortnight", "1/2/3"])
def test_rule_parse_rejects_nonsense_clearly(text: str) -> None:
    with pytest.raises(BadRequest, match="N/second, N/minute, N/hour or N/day"):
        Rule.parse(text)


def test_rule_str() -> None:
    assert str(Rule(50, 3600)) == "50 per 3600s"


def test_memory_window_retry_after_and_reset() -> None:
    clock = FakeClock(1_000_020.0)  # the start of a minute window
    limiter = MemoryLimiter(clock=clock)
    rule = Rule(3, 60)
    window_end = (clock.now // 60 + 1) * 60
    assert [limiter.hit("k", rule) for _ in range(3)] == [None, None, None]
    retry = limiter.hit("k", rule)
    assert retry == window_end - clock.now
    clock.now += 15
    assert limiter.hit("k", rule) == window_end - clock.now
    clock.now = window_end - 0.2
    assert limiter.hit("k", rule) == 1  # never 0: at least one second
    clock.now = window_end
    assert limiter.hit("k", rule) is None  # a new window resets the budget
    assert [limiter.hit("k", rule) for _ in range(2)] == [None, None]
    assert limiter.hit("k", rule) is not None


def test_memory_keys_are_separate() -> None:
    limiter = MemoryLimiter(clock=FakeClock())
    rule = Rule(1, 60)
    assert limiter.hit("a", rule) is None
    assert limiter.hit("a", rule) is not None
    assert limiter.hit("b", rule) is None


def test_memory_limiter_prunes_old_windows() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock)
    rule = Rule(1, 60)
    for i in range(100_001):
        limiter.hit(f"key-{i}", rule)
    clock.now += 120
    limiter.hit("fresh", rule)
    assert len(limiter._windows) <= 2


@pytest.fixture
def prefix() -> str:
    return f"parley-test:{uuid.uuid4().hex}:"


@pytest.mark.redis
@needs_redis
def test_redis_limiters_share_one_budget(prefix: str) -> None:
    assert REDIS_URL
    clock = FakeClock(2_000_010.0)
    first = RedisLimiter(REDIS_URL, prefix=prefix, clock=clock)
    second = RedisLimiter(REDIS_URL, prefix=prefix, clock=clock)
    rule = Rule(4, 60)
    results = [limiter.hit("tok", rule) for limiter in (first, second, first, second)]
    assert results == [None, None, None, None]
    window_end = (clock.now // 60 + 1) * 60
    assert first.hit("tok", rule) == window_end - clock.now
    assert second.hit("tok", rule) == window_end - clock.now
    assert second.hit("other", rule) is None
    clock.now = window_end
    assert first.hit("tok", rule) is None


@pytest.mark.redis
@needs_redis
def test_redis_keys_expire(prefix: str) -> None:
    import redis

    assert REDIS_URL
    limiter = RedisLimiter(REDIS_URL, prefix=prefix)
    limiter.hit("tok", Rule(5, 60))
    client = redis.Redis.from_url(REDIS_URL)
    keys = client.keys(f"{prefix}*")
    assert len(keys) == 1
    assert 0 < client.ttl(keys[0]) <= 61
    client.delete(*keys)
