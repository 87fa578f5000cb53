"""Web accounts: sign-up on/off, log-in, cookie flags, CSRF on cookie requests, one-time links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.config import Settings
from parley.web.app import create_app
from parley.web.deps import SESSION_COOKIE
from tests.web.conftest import Caller, conversation, make_caller, seed

PASSWORD = "correct horse battery"


def accounts_app(settings: Settings, **overrides: Any) -> FastAPI:
    return create_app(settings.model_copy(update={"rate_login": "1000/minute", **overrides}))


@pytest.fixture
def browser(web_settings: Settings) -> Iterator[TestClient]:
    app = accounts_app(web_settings)
    with TestClient(app) as client:
        yield client
    app.state.runtime.close()


def signup(client: TestClient, name: str = "dana") -> Any:
    return client.post("/api/auth/signup", json={"name": name, "password": PASSWORD})


def cookie_attributes(response: Any) -> dict[str, str]:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)]
    attributes = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    return attributes


def test_signup_signs_in_with_a_safe_cookie(browser: TestClient) -> None:
    response = signup(browser)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user_id", "name", "csrf_token"} and body["name"] == "dana"
    flags = cookie_attributes(response)
    assert "httponly" in flags and flags["samesite"].lower() == "lax" and flags["path"] == "/"
    assert int(flags["max-age"]) == 30 * 86400
    assert "secure" not in flags  # plain http in this test
    assert browser.get("/api/shares/mine").status_code == 200  # the cookie authenticates
    assert signup(browser).status_code == 409


def test_the_cookie_is_secure_behind_https(web_settings: Settings) -> None:
    app = accounts_app(web_settings, public_url="https://parley.example")
    with TestClient(app) as client:
        assert "secure" in cookie_attributes(signup(client))
    app.state.runtime.close()


def test_signup_can_be_turned_off(web_settings: Settings) -> None:
    app = accounts_app(web_settings, allow_signup=False)
    with TestClient(app) as client:
        response = signup(client)
        assert response.status_code == 403 and "turned off" in response.json()["detail"]
        assert SESSION_COOKIE not in client.cookies
    app.state.runtime.close()


def test_login_and_wrong_password(browser: TestClient) -> None:
    signup(browser)
    browser.cookies.clear()
    wrong = browser.post("/api/auth/login", json={"name": "dana", "password": "not it at all"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "wrong name or password"}
    nobody = browser.post("/api/auth/login", json={"name": "nobody", "password": PASSWORD})
    assert nobody.status_code == 401 and nobody.json() == wrong.json()
    assert "set-cookie" not in wrong.headers
    assert browser.post("/api/auth/login", json={"name": "dana"}).status_code == 422
    assert browser.get("/api/shares/mine").status_code == 401
    ok = browser.post("/api/auth/login", data={"name": "dana", "password": PASSWORD})  # a form
    assert ok.status_code == 200 and "httponly" in cookie_attributes(ok)
    assert browser.get("/api/shares/mine").status_code == 200


def test_csrf_is_required_for_cookie_authenticated_writes(browser: TestClient) -> None:
    signed = signup(browser).json()
    token = signed["csrf_token"]
    app: FastAPI = browser.app  # type: ignore[assignment]
    seed(app, Caller("dana", signed["user_id"], None), conversation("c1"))
    body = {"conversation_id": "c1"}
    missing = browser.post("/api/shares", json=body)
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = browser.post("/api/shares", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    assert (
        browser.post("/api/shares", json=body, headers={"X-CSRF-Token": token}).status_code == 200
    )
    as_form = browser.post("/api/shares", data={**body, "csrf_token": token})
    assert as_form.status_code == 200
    as_json_field = browser.post("/api/shares", json={**body, "csrf_token": token})
    assert as_json_field.status_code == 200
    assert browser.get("/api/shares/mine").status_code == 200  # reads need no token
    share_id = as_form.json()["id"]
    assert browser.delete(f"/api/shares/{share_id}").status_code == 403
    assert browser.get(f"/api/shares/{share_id}").status_code == 200
    assert (
        browser.post(
            "/api/conversations", json={"items": [{"from": "human", "value": "x"}]}
        ).status_code
        == 403
    )


def test_token_calls_need_no_csrf_even_with_a_cookie(
    browser: TestClient,
) -> None:
    app: FastAPI = browser.app  # type: ignore[assignment]
    alice = make_caller(app, "alice")
    seed(app, alice, conversation("c1"))
    signup(browser)  # a session cookie is present too: the header wins
    made = browser.post("/api/shares", json={"conversation_id": "c1"}, headers=alice.headers)
    assert made.status_code == 200


def test_one_time_login_links(
    browser: TestClient,
) -> None:
    app: FastAPI = browser.app  # type: ignore[assignment]
    alice, bob = make_caller(app, "alice"), make_caller(app, "bob")
    admin = make_caller(app, "root", is_admin=True)
    assert (
        browser.post(
            "/api/auth/login-link", json={"user_id": alice.user_id}, headers=bob.headers
        ).status_code
        == 403
    )
    issued = browser.post("/api/auth/login-link", json={}, headers=alice.headers)
    assert issued.status_code == 200
    link = issued.json()["url"]
    path = link[link.index("/auth/link/") :]
    preview = browser.get(path, headers={"User-Agent": "Slackbot-LinkExpanding 1.0"})
    assert preview.status_code == 403  # a link preview does not use the link up
    used = browser.get(path, follow_redirects=False)
    assert used.status_code == 302 and used.headers["location"] == "/library"
    assert "httponly" in cookie_attributes(used)
    mine = browser.get("/api/shares/mine")
    assert mine.status_code == 200
    browser.cookies.clear()
    again = browser.get(path, follow_redirects=False)
    assert again.status_code == 404 and SESSION_COOKIE not in again.headers.get("set-cookie", "")
    for_alice = browser.post(
        "/api/auth/login-link", json={"user_id": alice.user_id}, headers=admin.headers
    )
    assert for_alice.status_code == 200


def test_logout_ends_the_session(browser: TestClient) -> None:
    token = signup(browser).json()["csrf_token"]
    assert browser.post("/api/auth/logout").status_code == 403  # CSRF applies here too
    stolen = browser.cookies.get(SESSION_COOKIE)
    out = browser.post("/api/auth/logout", headers={"X-CSRF-Token": token})
    assert out.status_code == 204
    assert browser.get("/api/shares/mine").status_code == 401
    browser.cookies.set(SESSION_COOKIE, stolen or "")
    assert browser.get("/api/shares/mine").status_code == 401  # the old cookie is dead
    assert browser.post("/api/auth/logout").status_code == 204  # anonymous: nothing to end
