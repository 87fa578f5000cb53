"""Rate limits on the routes: 429 with a JSON detail and Retry-After, per token and per address.

TestClient always connects from one address, so these apps trust ``X-Forwarded-For`` and
each caller sends its own address.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.config import Settings
from parley.ratelimit import MemoryLimiter, RedisLimiter
from parley.web.app import create_app
from tests.conftest import REDIS_URL, needs_redis
from tests.web.conftest import ADMIN_KEY, Caller, make_caller

BUDGET = 3


NOW = 1_700_000_000.0  # a frozen clock, so no test straddles a window boundary


def frozen() -> float:
    return NOW


def limited_app(
    settings: Settings, *, redis_prefix: str | None = None, **overrides: object
) -> FastAPI:
    update = {"rate_read": f"{BUDGET}/minute", "trust_forwarded_for": True, **overrides}
    app = create_app(settings.model_copy(update=update))
    runtime = app.state.runtime
    if redis_prefix is None:
        runtime.limiter = MemoryLimiter(clock=frozen)
    else:
        assert REDIS_URL
        runtime.limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix, clock=frozen)
    return app


@pytest.fixture
def limited(web_settings: Settings) -> Iterator[tuple[FastAPI, TestClient]]:
    app = limited_app(web_settings)
    with TestClient(app) as client:
        yield app, client
    app.state.runtime.close()


def get(client: TestClient, caller: Caller, address: str, url: str = "/conversations") -> int:
    headers = {**caller.headers, "X-Forwarded-For": address}
    return client.get(url, headers=headers).status_code


def test_429_after_the_budget_with_detail_and_retry_after(
    limited: tuple[FastAPI, TestClient],
) -> None:
    app, client = limited
    alice = make_caller(app, "alice")
    assert [get(client, alice, "10.0.0.1") for _ in range(BUDGET)] == [200] * BUDGET
    response = client.get(
        "/backend-api/conversations", headers={**alice.headers, "X-Forwarded-For": "10.0.0.1"}
    )
    assert response.status_code == 429
    assert set(response.json()) == {"detail"}
    assert f"{BUDGET} requests per 60 s" in response.json()["detail"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_one_token_exhausting_its_budget_does_not_block_another(
    limited: tuple[FastAPI, TestClient],
) -> None:
    app, client = limited
    alice, bob = make_caller(app, "alice"), make_caller(app, "bob")
    for _ in range(BUDGET):
        get(client, alice, "10.0.0.1")
    assert get(client, alice, "10.0.0.1") == 429
    assert get(client, bob, "10.0.0.2") == 200
    # the budget follows the token to another address ...
    assert get(client, alice, "10.0.0.3") == 429


def test_an_address_exhausting_its_budget_is_blocked_whatever_the_token(
    limited: tuple[FastAPI, TestClient], anonymous: Caller
) -> None:
    app, client = limited
    alice, bob = make_caller(app, "alice"), make_caller(app, "bob")
    for _ in range(BUDGET):
        assert get(client, anonymous, "10.0.0.9") == 401  # guessing tokens costs budget too
    assert get(client, alice, "10.0.0.9") == 429
    assert get(client, bob, "10.0.0.10") == 200


def test_admin_key_guesses_are_limited_per_address(
    limited: tuple[FastAPI, TestClient],
) -> None:
    _app, client = limited
    guesser = {"X-Forwarded-For": "10.0.0.66"}
    answers = [
        client.get("/admin/users", params={"admin_key": f"guess-{i}"}, headers=guesser)
        for i in range(BUDGET + 1)
    ]
    assert [a.status_code for a in answers] == [401] * BUDGET + [429]
    other = client.get(
        "/admin/users", params={"admin_key": ADMIN_KEY}, headers={"X-Forwarded-For": "10.0.0.67"}
    )
    assert other.status_code == 200


def test_the_forwarded_address_is_ignored_unless_trusted(web_settings: Settings) -> None:
    app = limited_app(web_settings, trust_forwarded_for=False)
    with TestClient(app) as client:
        alice, bob = make_caller(app, "alice"), make_caller(app, "bob")
        for _ in range(BUDGET):
            get(client, alice, "10.0.0.1")
        # same real address ("testclient"): a forged header does not buy a new budget
        assert get(client, bob, "10.0.0.2") == 429
    app.state.runtime.close()


@pytest.mark.redis
@needs_redis
def test_replicas_share_the_budget_through_redis(web_settings: Settings) -> None:
    import redis

    assert REDIS_URL
    prefix = f"parley-test:{uuid.uuid4().hex}:"
    first = limited_app(web_settings, redis_prefix=prefix)
    second = limited_app(web_settings, redis_prefix=prefix)
    try:
        with TestClient(first) as one, TestClient(second) as two:
            alice = make_caller(first, "alice")
            statuses = [get(c, alice, "10.0.0.1") for c in (one, two, one, two)]
            assert statuses == [200, 200, 200, 429]
            assert get(two, make_caller(first, "bob"), "10.0.0.2") == 200
    finally:
        first.state.runtime.close()
        second.state.runtime.close()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.mark.parametrize(
    "url", ["/backend-api/conversations", "/backend-api/conversation/not-there"]
)
def test_the_backend_api_reads_count_against_the_read_budget_before_the_token(
    limited: tuple[FastAPI, TestClient], url: str
) -> None:
    app, client = limited
    alice = make_caller(app, "alice")
    expected = 200 if url.endswith("conversations") else 404
    assert [get(client, alice, "10.0.0.9", url) for _ in range(BUDGET)] == [expected] * BUDGET
    assert get(client, alice, "10.0.0.9", url) == 429
    # a 429 comes before the token is looked at: a wrong token from that address too
    stranger = Caller(name="stranger", user_id=None, token="wrong")
    assert get(client, stranger, "10.0.0.9", url) == 429
    assert get(client, stranger, "10.0.0.10", url) == 401
