"""The error shape: every error is ``{"detail": ...}``; a 500 tells nothing; browsers get HTML."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.config import Settings
from parley.errors import Forbidden
from parley.ratelimit import MemoryLimiter
from parley.web.app import create_app
from tests.web.conftest import ADMIN_KEY, Caller, make_caller


@pytest.fixture
def strict_app(web_settings: Settings) -> Iterator[FastAPI]:
    """An app with a tiny body limit and read budget, and two routes that fail."""
    settings = web_settings.model_copy(update={"max_body_bytes": 1000, "rate_read": "3/minute"})
    app = create_app(settings)
    app.state.runtime.limiter = MemoryLimiter(clock=lambda: 1_700_000_000.0)  # no window edge

    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2 at /srv/parley/db.py")

    def forbidden() -> None:
        raise Forbidden("not for you")

    app.add_api_route("/api/boom", boom)
    app.add_api_route("/boom", boom)
    app.add_api_route("/api/forbidden", forbidden)
    yield app
    app.state.runtime.close()


@pytest.fixture
def strict(strict_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(strict_app, raise_server_exceptions=False) as client:
        yield client


def only_detail(response: object) -> object:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"detail"}, body
    return body["detail"]


def test_404_401_422_are_detail_objects(client: TestClient, alice: Caller) -> None:
    not_found = client.get("/backend-api/conversation/nope", headers=alice.headers)
    assert not_found.status_code == 404 and isinstance(only_detail(not_found), str)
    no_route = client.get("/no/such/route")
    assert no_route.status_code == 404 and only_detail(no_route) == "Not Found"
    unauthorized = client.get("/conversations")
    assert unauthorized.status_code == 401 and isinstance(only_detail(unauthorized), str)
    invalid = client.get("/conversations", params={"limit": "lots"}, headers=alice.headers)
    assert invalid.status_code == 422
    (entry,) = only_detail(invalid)  # type: ignore[misc]
    assert entry["loc"] == ["query", "limit"] and entry["msg"] and entry["type"]
    wrong_method = client.put("/conversations", headers=alice.headers)
    assert wrong_method.status_code == 405 and isinstance(only_detail(wrong_method), str)


def test_403_is_a_detail_object(strict: TestClient) -> None:
    response = strict.get("/api/forbidden")
    assert response.status_code == 403 and only_detail(response) == "not for you"


def test_413_is_a_detail_object_with_the_limit(strict: TestClient) -> None:
    response = strict.post("/admin/users/add", content=b"x" * 2000)
    assert response.status_code == 413
    assert "1000 bytes" in str(only_detail(response))


def test_429_is_a_detail_object_with_retry_after(strict_app: FastAPI, strict: TestClient) -> None:
    alice = make_caller(strict_app, "alice")
    statuses = [strict.get("/conversations", headers=alice.headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = strict.get("/conversations", headers=alice.headers)
    assert "rate limit" in str(only_detail(limited))
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_an_unexpected_error_is_a_500_without_internals(strict: TestClient) -> None:
    response = strict.get("/api/boom")
    assert response.status_code == 500
    detail = only_detail(response)
    assert isinstance(detail, str) and "internal server error" in detail
    for secret in ("hunter2", "RuntimeError", "/srv/parley", "Traceback"):
        assert secret not in response.text


def test_browsers_get_an_html_page_on_non_api_paths(strict: TestClient) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    missing = strict.get("/no/such/page", headers=browser)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "<h1>404</h1>" in missing.text
    crash = strict.get("/boom", headers=browser)
    assert crash.status_code == 500 and crash.headers["content-type"].startswith("text/html")
    assert "hunter2" not in crash.text


@pytest.mark.parametrize(
    "path", ["/api/boom", "/conversations", "/backend-api/conversations", "/admin/users"]
)
def test_api_paths_answer_json_even_to_browsers(strict: TestClient, path: str) -> None:
    response = strict.get(path, headers={"Accept": "text/html"})
    assert response.status_code >= 400
    assert response.headers["content-type"].startswith("application/json")
    only_detail(response)


def test_error_messages_never_repeat_the_admin_key(client: TestClient) -> None:
    response = client.get("/admin/users", params={"admin_key": ADMIN_KEY[:-1]})
    assert response.status_code == 401
    assert ADMIN_KEY[:-1] not in response.text
