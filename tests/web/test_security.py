"""Security headers on every page, and an XSS corpus rendered through every page type."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.web.security import CSP
from tests.support.pages import HTML, Browser, share
from tests.support.xss import HOSTILE_TITLE, Hostile, assert_inert, make_hostile, problems
from tests.web.conftest import Caller


def assert_page_headers(answer: object, where: str) -> None:
    headers = answer.headers  # type: ignore[attr-defined]
    assert headers["content-type"].startswith("text/html"), where
    assert headers["content-security-policy"] == CSP, where
    assert headers["x-frame-options"] == "DENY", where
    assert headers["x-content-type-options"] == "nosniff", where
    assert headers["referrer-policy"] == "same-origin", where


def test_the_policy_is_strict() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CSP.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'self'"
    assert directives["img-src"] == "'self' data: https:"
    assert "unsafe" not in CSP


def test_every_page_sends_the_headers(
    app: FastAPI, client: TestClient, alice: Caller, alice_browser: Browser
) -> None:
    made = share(app, alice)
    anonymous = [
        "/explore",
        "/explore?type=top&search=x",
        "/login",
        "/signup",
        f"/c/{made.id}",
        "/c/nope123",
        "/no/such/page",
    ]
    for path in anonymous:
        assert_page_headers(client.get(path, headers=HTML), path)
    for path in ["/library", "/library?q=first", f"/c/{made.id}?node=a2a"]:
        assert_page_headers(alice_browser.get(path), path)
    # not HTML: nosniff only; the API docs are exempt from the CSP (Swagger UI's own page)
    for path in ["/static/parley.css", "/static/parley.js", "/robots.txt", "/api/conversations"]:
        answer = client.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert "content-security-policy" not in answer.headers, path
    assert "content-security-policy" not in client.get("/docs").headers


@pytest.fixture
def hostile(app: FastAPI, alice: Caller, bob: Caller) -> Hostile:
    return make_hostile(
        app.state.runtime.factory, owner_id=alice.user_id or "", commenter_id=bob.user_id or ""
    )


def test_xss_corpus_is_inert_on_every_page(
    hostile: Hostile, client: TestClient, alice_browser: Browser, bob_browser: Browser
) -> None:
    pages = {
        "share (posted)": client.get(f"/c/{hostile.posted}", headers=HTML),
        "share (library)": client.get(f"/c/{hostile.shared}", headers=HTML),
        "share (other branch)": client.get(f"/c/{hostile.shared}?node=u2a", headers=HTML),
        "share (commenter)": bob_browser.get(f"/c/{hostile.shared}"),
        "share (owner)": alice_browser.get(f"/c/{hostile.shared}"),
        "explore": client.get("/explore", headers=HTML),
        "explore search": client.get("/explore?search=pythons&type=top", headers=HTML),
        "library": alice_browser.get("/library"),
        "library search": alice_browser.get("/library?q=click"),
        "saved": bob_browser.get("/library"),
        "login next": client.get(
            "/login?next=javascript:alert(1)&x=<script>alert(1)</script>", headers=HTML
        ),
        "error": client.get("/c/<script>alert(1)</script>", headers=HTML),
    }
    bob_browser.post(f"/c/{hostile.shared}/save", {"saved": "1"})
    pages["saved"] = bob_browser.get("/library")
    for where, answer in pages.items():
        assert answer.status_code in (200, 404), where
        assert_inert(answer.text, where)
    # the payloads are there, as text
    shared = pages["share (library)"].text
    assert "&lt;script&gt;window.__xss=1;alert(1)&lt;/script&gt;" in shared
    assert HOSTILE_TITLE not in shared and "window.__xss=50" in shared
    assert shared.count('class="comment"') == 8
    assert "Assistant (&lt;script&gt;m&lt;/script&gt;)" in shared


def test_the_checker_catches_what_it_should() -> None:
    """assert_inert must fail on each of these, or the test above proves nothing."""
    dangerous = [
        "<script>x</script>",
        '<script src="https://evil.example/x.js"></script>',
        '<img src="x" onerror="alert(1)">',
        '<a href=" JAVASCRIPT:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
        '<p style="color:red">x</p>',
        '<iframe src="/x"></iframe>',
        '<meta http-equiv="refresh" content="0;url=/x">',
        '<form action="https://evil.example"></form>',
        "<svg></svg>",
    ]
    for html in dangerous:
        assert problems(html), html
    assert not problems(
        '<script src="/static/parley.js?v=1" defer></script><img src="data:image/png;base64,AAAA">'
        '<a href="/c/x">ok</a><form action="/login" method="post"></form>'
    )
