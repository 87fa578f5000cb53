"""``parley.sync_remote``: retries, Retry-After, backoff and giving up, on a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from parley.errors import Unauthorized, Unavailable
from parley.sync_remote import Failed, Remote, RetryPolicy, retry_after
from tests.support.flaky_backend import TOKEN, Fault, FlakyBackend, running
from tests.web.conftest import conversation

POLICY = RetryPolicy(attempts=3, base=2.0, cap=5.0, max_retry_after=30.0, give_up_after=2)


@pytest.fixture
def backend() -> Iterator[FlakyBackend]:
    fake = FlakyBackend()
    fake.add(conversation("c1"))
    with running(fake):
        yield fake


def remote(backend: FlakyBackend, sleeps: list[float], token: str = TOKEN) -> Remote:
    return Remote(backend.url + "/backend-api", token, policy=POLICY, sleep=sleeps.append)


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2024, 9, 17, 12, 0, tzinfo=UTC).timestamp()
    assert retry_after("120", now=now) == 120.0
    assert retry_after("1.5", now=now) == 1.5
    assert retry_after("-3", now=now) == 0.0
    later = format_datetime(datetime(2024, 9, 17, 12, 1, 30, tzinfo=UTC), usegmt=True)
    assert retry_after(later, now=now) == 90.0
    assert retry_after(None, now=now) is None and retry_after("soon", now=now) is None


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [POLICY.backoff(n) for n in range(1, 6)] == [2.0, 4.0, 5.0, 5.0, 5.0]


def test_bearer_prefix_is_optional(backend: FlakyBackend) -> None:
    sleeps: list[float] = []
    with remote(backend, sleeps, token=f"Bearer {TOKEN}") as client:
        assert client.get_json("/conversation/c1")["id"] == "c1"


def test_a_request_that_keeps_failing_gives_up_after_its_tries(backend: FlakyBackend) -> None:
    backend.faults = lambda n, path, query: Fault("500") if n <= 3 else None
    sleeps: list[float] = []
    with remote(backend, sleeps) as client:
        with pytest.raises(Failed, match=r"server error 500 \(3 tries\)"):
            client.get_json("/conversation/c1")
        assert sleeps == [2.0, 4.0]
        assert client.get_json("/conversation/c1")["id"] == "c1"  # and then it works


def test_429s_do_not_use_up_the_tries_but_have_their_own_limit(backend: FlakyBackend) -> None:
    policy = RetryPolicy(attempts=1, rate_limited=4, give_up_after=5)
    backend.faults = lambda n, path, query: Fault.rate_limited("1000") if n <= 4 else None
    sleeps: list[float] = []
    with Remote(backend.url + "/backend-api", TOKEN, policy=policy, sleep=sleeps.append) as c:
        assert c.get_json("/conversation/c1")["id"] == "c1"
        assert sleeps == [policy.max_retry_after] * 4
        backend.faults = lambda n, path, query: Fault.rate_limited(None)
        with pytest.raises(Failed, match="still rate limited"):
            c.get_json("/conversation/c1")


def test_consecutive_failures_mean_the_server_is_down(backend: FlakyBackend) -> None:
    sleeps: list[float] = []
    with remote(backend, sleeps) as client:
        with pytest.raises(Failed, match="404"):  # a clear answer: does not count
            client.get_json("/conversation/missing")
        backend.faults = lambda n, path, query: Fault("drop")
        with pytest.raises(Failed, match="no answer"):
            client.get_json("/conversation/c1")
        with pytest.raises(Unavailable, match="run the same command again"):
            client.get_json("/conversation/c1")


def test_a_refused_token_is_unauthorized_at_once(backend: FlakyBackend) -> None:
    sleeps: list[float] = []
    with (
        remote(backend, sleeps, token="nope-secret") as client,
        pytest.raises(Unauthorized) as caught,
    ):
        client.get_json("/conversations")
    assert sleeps == [] and "nope-secret" not in caught.value.detail
    assert [e.answer for e in backend.log] == ["401"]
