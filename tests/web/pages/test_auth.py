"""Log-in, sign-up and log-out pages, their CSRF protection, and login links."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley import accounts
from parley.config import Settings
from parley.store.db import transaction
from parley.web.app import create_app
from parley.web.pages import safe_next
from parley.web.pages.auth import FORM_COOKIE
from tests.support.pages import HTML, PASSWORD, Browser, Page, set_password
from tests.web.conftest import Caller


def form_token(client: TestClient, path: str = "/login") -> str:
    answer = client.get(path, headers=HTML)
    assert answer.status_code == 200
    (field,) = Page(answer.text).find("input", name="csrf_token")
    assert field["value"] == client.cookies.get(FORM_COOKIE)
    return str(field["value"])


def test_login_form(app: FastAPI, client: TestClient, alice: Caller) -> None:
    set_password(app, alice)
    token = form_token(client)
    wrong = client.post(
        "/login",
        data={"csrf_token": token, "name": "alice", "password": "nope-nope", "next": "/library"},
        headers=HTML,
    )
    assert wrong.status_code == 401 and "wrong name or password" in wrong.text
    assert 'value="alice"' in wrong.text  # the name is kept, never the password
    answer = client.post(
        "/login",
        data={"csrf_token": token, "name": "alice", "password": PASSWORD, "next": "/explore"},
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/explore?done=signed-in"
    cookie = answer.headers.get_list("set-cookie")
    assert any(c.startswith("parley_session=") and "HttpOnly" in c for c in cookie)
    page = Page(client.get("/explore?done=signed-in", headers=HTML).text)
    assert "Signed in." in page.text and "alice" in page.text and "Log out" in page.text


def test_forms_need_the_form_token(app: FastAPI, client: TestClient, alice: Caller) -> None:
    set_password(app, alice)
    form_token(client)
    for path in ("/login", "/signup"):
        answer = client.post(
            path,
            data={"name": "alice", "password": PASSWORD, "csrf_token": "forged"},
            headers=HTML,
        )
        assert answer.status_code == 403 and "reload the page" in answer.text
    assert "parley_session" not in client.cookies


def test_signup_then_logout(client: TestClient) -> None:
    token = form_token(client, "/signup")
    short = client.post(
        "/signup", data={"csrf_token": token, "name": "carol", "password": "short"}, headers=HTML
    )
    assert short.status_code == 422 and "8-1024 characters" in short.text
    made = client.post(
        "/signup",
        data={"csrf_token": token, "name": "carol", "password": PASSWORD, "next": "/library"},
        headers=HTML,
        follow_redirects=False,
    )
    assert made.status_code == 303 and made.headers["location"] == "/library?done=welcome"
    library = client.get("/library?done=welcome", headers=HTML)
    assert library.status_code == 200 and "your account is ready" in library.text
    csrf = Page(library.text).find("input", name="csrf_token")[0]["value"]
    refused = client.post("/logout", data={"csrf_token": "forged"}, headers=HTML)
    assert refused.status_code == 403
    out = client.post(
        "/logout", data={"csrf_token": str(csrf)}, headers=HTML, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/explore?done=signed-out"
    assert client.get("/library", headers=HTML, follow_redirects=False).status_code == 303


def test_signup_can_be_turned_off(web_settings: Settings) -> None:
    app = create_app(web_settings.model_copy(update={"allow_signup": False}))
    try:
        with TestClient(app) as client:
            token = form_token(client, "/signup")
            answer = client.post(
                "/signup",
                data={"csrf_token": token, "name": "dave", "password": PASSWORD},
                headers=HTML,
            )
            assert answer.status_code == 403 and "sign-up is turned off" in answer.text
    finally:
        app.state.runtime.close()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/c/abc?node=x#m-1", "/c/abc?node=x#m-1"),
        ("//evil.example/x", "/library"),
        ("https://evil.example", "/library"),
        ("/\\evil.example", "/library"),
        ("javascript:alert(1)", "/library"),
        ("", "/library"),
    ],
)
def test_next_is_a_same_site_path(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_login_page_keeps_next_and_escapes_it(client: TestClient) -> None:
    page = client.get('/login?next=/c/x"><script>', headers=HTML).text
    assert "<script>" not in page.split("</head>")[1]
    assert re.search(r'name="next" value="/c/x&#34;&gt;&lt;script&gt;"', page)


def test_a_used_or_unknown_login_link_shows_the_error_page(
    app: FastAPI, client: TestClient, alice: Caller, alice_browser: Browser
) -> None:
    with transaction(app.state.runtime.factory) as session:
        token = accounts.issue_login_link(session, user_id=alice.user_id or "", ttl_seconds=60)
    browser = {**HTML, "User-Agent": "Mozilla/5.0 Chrome/120"}
    used = client.get(f"/auth/link/{token}", headers=browser, follow_redirects=False)
    assert used.status_code == 302 and used.headers["location"] == "/library"
    again = TestClient(app).get(f"/auth/link/{token}", headers=browser)
    assert again.status_code == 404 and "already used" in again.text
    assert "<h1>404</h1>" in again.text and 'href="/explore"' in again.text
