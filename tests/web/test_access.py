"""Who may call what, for EVERY route the app registers (new routes are covered on arrival).

Callers: anonymous, user A (owns the resources), user B and an admin user. For each route
in ``app.routes``:

* ``token`` routes: anonymous gets 401; B and the admin get 404 for A's resources, never
  see A's data in a listing, and A's data is intact after everything they sent;
* ``admin_key`` routes: every caller's token is rejected (as ``admin_key`` and as an
  ``Authorization`` header) with 401;
* ``public`` routes: no 401 for anonymous;
* ``admin`` routes: anonymous gets 401, users who are not admins 403, the admin user 200.

A route without an entry in :data:`EXPECTATIONS` fails the test: add one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route, WebSocketRoute

from parley.store import conversations
from parley.store.db import transaction
from tests.web.conftest import Caller, conversation, seed

SKIPPED_PATHS = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/healthz"}
SECRET_ID = "alices-secret-conversation"
SECRET_TITLE = "Alice's secret title"


@dataclass(frozen=True)
class Expect:
    auth: Literal["token", "admin_key", "public", "admin"]
    body: dict[str, Any] | None = None  # a JSON body every caller sends (A's ids filled in)


EXPECTATIONS: dict[tuple[str, str], Expect] = {
    ("POST", "/admin/users/add"): Expect("admin_key", {"name": "matrix-made"}),
    ("POST", "/admin/users/delete"): Expect("admin_key", {"user_id": "{alice}"}),
    ("GET", "/admin/users"): Expect("admin_key"),
    ("GET", "/backend-api/conversations"): Expect("token"),
    ("GET", "/backend-api/conversation/{conversation_id}"): Expect("token"),
    ("PATCH", "/backend-api/conversation/{conversation_id}"): Expect(
        "token", {"title": "pwned", "is_archived": True}
    ),
    ("GET", "/conversations"): Expect("token"),
    ("GET", "/conversations/{conversation_id}/messages"): Expect("token"),
    ("DELETE", "/conversations/all"): Expect("token"),
    ("DELETE", "/conversations/{conversation_id}"): Expect("token"),
    ("POST", "/api/import"): Expect("token"),
    ("GET", "/api/import/{job_id}"): Expect("token"),
    # web pages (parley.web.pages): public pages decide visibility themselves
    ("GET", "/"): Expect("public"),  # a redirect to /library, which asks for an account
    ("GET", "/explore"): Expect("public"),
    ("GET", "/sitemap.xml"): Expect("public"),
    ("GET", "/robots.txt"): Expect("public"),
    ("GET", "/login"): Expect("public"),
    ("POST", "/login"): Expect("public"),
    ("GET", "/signup"): Expect("public"),
    ("POST", "/signup"): Expect("public"),
    ("POST", "/logout"): Expect("public"),
    ("GET", "/c/{share_id}"): Expect("public"),
    ("POST", "/c/{share_id}/comments"): Expect("token", {"node_id": "u1", "body": "pwned"}),
    ("POST", "/c/{share_id}/comments/{comment_id}/edit"): Expect("token", {"body": "pwned"}),
    ("POST", "/c/{share_id}/comments/{comment_id}/delete"): Expect("token"),
    ("POST", "/c/{share_id}/save"): Expect("token"),
    ("GET", "/library"): Expect("token"),
    ("POST", "/library/share"): Expect(
        "token", {"conversation_id": SECRET_ID, "visibility": "public"}
    ),
    ("POST", "/library/shares/{share_id}/update"): Expect("token", {"visibility": "public"}),
    ("POST", "/library/shares/{share_id}/delete"): Expect("token"),
    ("POST", "/library/import"): Expect("token"),
    ("GET", "/library/export"): Expect("token"),
    ("GET", "/library/c/{conversation_id:path}"): Expect("token"),
    ("GET", "/library/c/{conversation_id:path}/markdown"): Expect("token"),
    ("POST", "/library/c/{conversation_id:path}/delete"): Expect("token"),
    # ShareGPT, shares, comments and accounts JSON APIs (parley.web.api.sharegpt/shares/accounts)
    ("POST", "/api/conversations"): Expect("public", {"items": [{"from": "human", "value": "hi"}]}),
    ("GET", "/api/conversations"): Expect("public"),
    ("POST", "/api/shares"): Expect(
        "token", {"conversation_id": SECRET_ID, "visibility": "public"}
    ),
    ("GET", "/api/shares/mine"): Expect("token"),
    ("GET", "/api/saves"): Expect("token"),
    ("GET", "/api/shares/{share_id}"): Expect("public"),
    ("PATCH", "/api/shares/{share_id}"): Expect(
        "token", {"visibility": "public", "title": "pwned"}
    ),
    ("DELETE", "/api/shares/{share_id}"): Expect("public"),
    ("PUT", "/api/shares/{share_id}/save"): Expect("token"),
    ("DELETE", "/api/shares/{share_id}/save"): Expect("token"),
    ("GET", "/api/shares/{share_id}/comments"): Expect("public"),
    ("POST", "/api/shares/{share_id}/comments"): Expect("token", {"node_id": "u1", "body": "x"}),
    ("PATCH", "/api/comments/{comment_id}"): Expect("token", {"body": "pwned"}),
    ("DELETE", "/api/comments/{comment_id}"): Expect("token"),
    ("POST", "/api/shares/{share_id}/report"): Expect("public", {"reason": "spam"}),
    ("GET", "/api/reports"): Expect("token"),
    ("POST", "/api/auth/signup"): Expect("public", {"name": "matrix-signup", "password": "x" * 12}),
    ("POST", "/api/auth/login"): Expect("public"),
    ("POST", "/api/auth/logout"): Expect("public"),
    ("POST", "/api/auth/login-link"): Expect("token", {"user_id": "{alice}"}),
    ("GET", "/auth/link/{token}"): Expect("public"),
    # agents (parley.web.api.agents, parley.web.api.agent_admin)
    ("GET", "/api/connections"): Expect("admin"),
    ("POST", "/admin/agents/add"): Expect("admin_key", {"name": "matrix-agent"}),
    # chat (parley.web.api.chat_rest, ask, openai_proxy); no LLM backend is configured here,
    # and asking in A's conversation must still be a 404 for everyone else
    ("POST", "/conversations/new"): Expect("token"),
    ("POST", "/conversations/{conversation_id}/ask"): Expect("token", {"prompt": "pwned?"}),
    ("POST", "/api/ask"): Expect("token"),
    ("POST", "/v1/chat/completions"): Expect("token"),
    ("GET", "/v1/models"): Expect("token"),
    # activity (parley.web.api.activity) and the heatmap page (parley.web.pages.heatmap)
    ("GET", "/api/activity"): Expect("token"),
    ("GET", "/api/activity/stats"): Expect("token"),
    ("GET", "/api/activity/raw"): Expect("token"),
    ("GET", "/api/activity/heatmap.svg"): Expect("token"),
    ("GET", "/api/activity/heatmap.png"): Expect("token"),
    ("GET", "/api/activity/hours.svg"): Expect("token"),
    ("GET", "/api/activity/hours.png"): Expect("token"),
    ("GET", "/heatmap"): Expect("token"),
}


def _alice_conversation(app: FastAPI, alice: Caller) -> str:
    seed(app, alice, conversation(SECRET_ID, title=SECRET_TITLE, branched=True))
    return SECRET_ID


def _alice_job(app: FastAPI, alice: Caller) -> str:
    from parley.store import jobs

    with transaction(app.state.runtime.factory) as session:
        job = jobs.create(session, owner_id=alice.user_id or "", filename="secret.zip")
    return job.id


def _alice_private_share(app: FastAPI, alice: Caller) -> str:
    """A's conversation shared privately (re-sharing keeps the id, so makers agree)."""
    from parley import social

    _alice_conversation(app, alice)
    with transaction(app.state.runtime.factory) as session:
        share = social.share_conversation(
            session, owner_id=alice.user_id or "", conversation_id=SECRET_ID, visibility="private"
        )
    return share.id


def _alice_comment(app: FastAPI, alice: Caller) -> str:
    from parley import social

    share_id = _alice_private_share(app, alice)
    with transaction(app.state.runtime.factory) as session:
        comment = social.add_comment(
            session, share_id=share_id, author_id=alice.user_id or "", node_id="u1", body="mine"
        )
    return comment.id


def _alice_login_link(app: FastAPI, alice: Caller) -> str:
    from parley import accounts

    with transaction(app.state.runtime.factory) as session:
        return accounts.issue_login_link(session, user_id=alice.user_id or "", ttl_seconds=600)


# How to make one of A's resources for each path parameter a route may have.
RESOURCES: dict[str, Callable[[FastAPI, Caller], str]] = {
    "conversation_id": _alice_conversation,
    "job_id": _alice_job,
    "share_id": _alice_private_share,
    "comment_id": _alice_comment,
    "token": _alice_login_link,
}


def registered(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route, docs and health check aside.

    ``app.routes`` holds one opaque entry per included router since FastAPI 0.137;
    ``iter_route_contexts`` walks them with their effective (prefixed) paths.
    """
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, WebSocketRoute | Mount) or context.path in SKIPPED_PATHS:
            continue
        assert isinstance(route, APIRoute | Route), f"unexpected route type {route!r}"
        assert context.path, f"route without a path: {route!r}"
        methods = sorted(context.methods or ())
        found += [(method, context.path) for method in methods if method != "HEAD"]
    return found


def test_every_route_has_an_expectation(app: FastAPI) -> None:
    assert len(registered(app)) >= 12, "the route walk went blind: fix registered()"
    missing = [f"{m} {p}" for m, p in registered(app) if (m, p) not in EXPECTATIONS]
    assert not missing, (
        f"routes without an access expectation: {missing}; add them to EXPECTATIONS in "
        "tests/web/test_access.py (and a RESOURCES entry for any new path parameter)"
    )
    stale = sorted(set(EXPECTATIONS) - set(registered(app)))
    assert not stale, f"EXPECTATIONS lists routes the app no longer has: {stale}"


@dataclass
class World:
    app: FastAPI
    client: TestClient
    alice: Caller
    others: list[Caller]
    ids: dict[str, str]
    before: dict[str, Any]

    def url(self, path: str) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.ids:
                pytest.fail(f"no RESOURCES entry for path parameter {{{name}}} in {path}")
            return self.ids[name]

        return re.sub(r"\{(\w+)(?::\w+)?\}", fill, path)

    def call(self, method: str, path: str, caller: Caller, *, admin_key: str | None = None) -> Any:
        expect = EXPECTATIONS[(method, path)]
        body = None
        if expect.body is not None:
            body = {
                k: v.replace("{alice}", self.alice.user_id or "") if isinstance(v, str) else v
                for k, v in expect.body.items()
            }
        params = None
        if admin_key is not None:
            if method == "GET":
                params = {"admin_key": admin_key}
            else:
                body = {**(body or {}), "admin_key": admin_key}
        return self.client.request(
            method, self.url(path), headers=caller.headers, params=params, json=body
        )

    def alice_intact(self) -> None:
        with transaction(self.app.state.runtime.factory) as session:
            now = conversations.load(
                session, owner_id=self.alice.user_id or "", conversation_id=SECRET_ID
            )
        assert now == self.before, "another caller changed A's conversation"


@pytest.fixture
def world(app: FastAPI, client: TestClient, alice: Caller, bob: Caller, admin: Caller) -> World:
    ids = {name: make(app, alice) for name, make in RESOURCES.items()}
    with transaction(app.state.runtime.factory) as session:
        before = conversations.load(
            session, owner_id=alice.user_id or "", conversation_id=SECRET_ID
        )
    return World(app, client, alice, [bob, admin], ids, before)


def _routes(world: World, auth: str) -> list[tuple[str, str]]:
    return [r for r in registered(world.app) if r in EXPECTATIONS and EXPECTATIONS[r].auth == auth]


def test_anonymous_gets_401_on_every_authenticated_route(world: World, anonymous: Caller) -> None:
    failures = []
    for method, path in _routes(world, "token") + _routes(world, "admin_key"):
        response = world.call(method, path, anonymous)
        if response.status_code != 401 or set(response.json()) != {"detail"}:
            failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    for method, path in _routes(world, "public"):
        response = world.call(method, path, anonymous)
        if response.status_code == 401:
            failures.append(f"{method} {path} is public but answered 401")
    assert not failures, "\n".join(failures)
    world.alice_intact()


def test_other_users_never_see_or_change_alices_data(world: World) -> None:
    failures = []
    for caller in world.others:
        for method, path in _routes(world, "token"):
            response = world.call(method, path, caller)
            where = f"{caller.name}: {method} {path}"
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code}")
            if "{" in path and response.status_code != 404:
                failures.append(f"{where}: expected 404, got {response.status_code}")
            # ids the caller sent may come back in a 404 detail; anything else is a leak
            sent = world.url(path)
            secrets = [SECRET_TITLE, "first question", *world.ids.values()]
            leaked = [s for s in secrets if s in response.text and s not in sent]
            if leaked:
                failures.append(f"{where}: A's data leaked: {leaked}")
    assert not failures, "\n".join(failures)
    world.alice_intact()


def test_admin_routes_answer_admins_only(world: World, anonymous: Caller) -> None:
    failures = []
    bob, admin = world.others
    for method, path in _routes(world, "admin"):
        for caller, expected in ((anonymous, 401), (world.alice, 403), (bob, 403), (admin, 200)):
            response = world.call(method, path, caller)
            if response.status_code != expected:
                failures.append(f"{caller.name}: {method} {path}: {response.status_code}")
            if SECRET_TITLE in response.text:
                failures.append(f"{caller.name}: {method} {path}: A's data leaked")
    assert not failures, "\n".join(failures)
    world.alice_intact()


def test_admin_key_routes_reject_user_tokens(world: World) -> None:
    failures = []
    for caller in [world.alice, *world.others]:
        for method, path in _routes(world, "admin_key"):
            for key in (caller.token, None):  # the token as the key, and only as a header
                response = world.call(method, path, caller, admin_key=key)
                if response.status_code != 401:
                    failures.append(f"{caller.name}: {method} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)
    world.alice_intact()


def test_the_owner_can_read_every_read_route(world: World) -> None:
    failures = []
    for method, path in _routes(world, "token"):
        if method == "GET":
            response = world.call(method, path, world.alice)
            if response.status_code != 200:
                failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


def test_openapi_documents_every_route(app: FastAPI, client: TestClient) -> None:
    documented = client.get("/openapi.json").json()["paths"]

    def schema_path(path: str) -> str:  # OpenAPI paths name no convertors ({id:path})
        return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)

    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            for method in context.methods or ():
                assert method.lower() in documented.get(schema_path(context.path), {}), (
                    f"{method} {context.path}"
                )
    ours = [key for key in EXPECTATIONS if not key[1].startswith("/api/import")]
    for method, path in ours:
        operation = documented[schema_path(path)][method.lower()]
        assert operation.get("summary") and operation.get("description"), f"{method} {path}"
