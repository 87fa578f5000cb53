"""The ShareGPT API: the seed's shapes, exact pages, privacy, sanitizing, 413 and rate limits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from parley import tree
from parley.config import Settings
from parley.ratelimit import MemoryLimiter
from parley.render import render_text
from parley.store import conversations
from parley.store.db import transaction
from parley.store.tables import shares as shares_table
from parley.web.app import create_app
from tests.web.conftest import Caller, make_caller

AVATAR = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgH"
SHARE_LIMIT = 20_000
META_KEYS = {"id", "title", "avatar", "saves", "comments", "views", "createdAt"}


def sharegpt_app(settings: Settings, **overrides: Any) -> FastAPI:
    update = {"rate_share": "100000/minute", "max_share_bytes": SHARE_LIMIT, **overrides}
    return create_app(settings.model_copy(update=update))


@pytest.fixture
def api(web_settings: Settings) -> Iterator[tuple[FastAPI, TestClient]]:
    app = sharegpt_app(web_settings)
    with TestClient(app) as client:
        yield app, client
    app.state.runtime.close()


def items(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"from": sender, "value": value} for sender, value in pairs]


def post(client: TestClient, body: dict[str, Any], caller: Caller | None = None) -> Any:
    return client.post("/api/conversations", json=body, headers=caller.headers if caller else {})


def test_post_and_list_in_the_seed_shapes(api: tuple[FastAPI, TestClient]) -> None:
    _, client = api
    body = {
        "avatarUrl": AVATAR,
        "items": items(("human", "What is sourdough?"), ("gpt", "<p>A <b>bread</b>.</p>")),
        "visibility": "public",
    }
    response = post(client, body)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"id", "url", "manage_token"}
    assert re.fullmatch(r"[0-9A-Za-z]{7}", answer["id"])
    assert answer["url"].endswith(f"/{answer['id']}")
    (listed,) = client.get("/api/conversations", params={"type": "new"}).json()
    assert set(listed) == META_KEYS
    assert listed["id"] == answer["id"]
    assert (listed["title"], listed["avatar"]) == ("What is sourdough?", AVATAR)
    assert (listed["saves"], listed["comments"], listed["views"]) == (0, 0, 0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", listed["createdAt"])


def test_posts_are_unlisted_unless_asked(api: tuple[FastAPI, TestClient]) -> None:
    _, client = api
    answer = post(client, {"items": items(("human", "quiet one"))}).json()
    assert client.get("/api/conversations").json() == []
    shown = client.get(f"/api/shares/{answer['id']}")
    assert shown.status_code == 200 and shown.json()["share"]["visibility"] == "unlisted"


def test_from_accepts_the_seeds_roles_and_synonyms(api: tuple[FastAPI, TestClient]) -> None:
    _, client = api
    body = {
        "items": items(
            ("system", "Be terse."),
            ("user", "hi"),
            ("assistant", "hello"),
            ("human", "bye"),
            ("gpt", "bye"),
        ),
        "title": "Roles",
        "model": "gpt-4",
    }
    answer = post(client, body).json()
    shown = client.get(f"/api/shares/{answer['id']}").json()
    roles = [tree.role(m) for m in tree.visible_messages(shown["conversation"])]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert shown["share"]["title"] == "Roles" and shown["share"]["model"] == "gpt-4"
    bad = post(client, {"items": items(("robot", "beep"))})
    assert bad.status_code == 422 and "human, gpt, system" in bad.json()["detail"]
    assert post(client, {"items": []}).status_code == 422
    assert post(client, {"avatarUrl": AVATAR}).status_code == 422


def test_html_values_are_sanitized_before_they_are_stored(
    api: tuple[FastAPI, TestClient],
) -> None:
    app, client = api
    payload = (
        '<div class="markdown"><p>Hi <img src=x onerror="alert(1)"></p>'
        '<script>alert(2)</script><a href="javascript:alert(3)">x</a>'
        '<svg onload="alert(4)"></svg></div>'
    )
    human = '<img src=x onerror="alert(5)"><script>alert(6)</script>'
    answer = post(client, {"items": items(("human", human), ("gpt", payload))}).json()
    returned = client.get(f"/api/shares/{answer['id']}").text
    with transaction(app.state.runtime.factory) as session:
        share = shares_table.select().where(shares_table.c.id == answer["id"])
        pk = session.execute(share).one().conversation_pk
        (data,) = conversations.load_many(session, pks=[pk])
    user, gpt = tree.visible_messages(data)
    stored_gpt = str(gpt)
    for bad in ("onerror", "<script", "alert(2)", "javascript:", "onload", "<svg"):
        assert bad not in stored_gpt
    assert "alert(2)" not in returned and "onload" not in returned
    # a human value is text (the extension sends textContent): kept as typed, never markup
    assert tree.message_text(user) == human
    rendered = render_text(tree.message_text(user))
    assert "<script" not in rendered and "<img" not in rendered and "&lt;script&gt;" in rendered


def test_oversize_posts_are_413_with_the_limit(api: tuple[FastAPI, TestClient]) -> None:
    _, client = api
    big = {"items": items(("human", "x" * SHARE_LIMIT))}
    response = post(client, big)
    assert response.status_code == 413
    assert set(response.json()) == {"detail"}
    assert f"({SHARE_LIMIT} bytes)" in response.json()["detail"]
    raw = orjson.dumps(big)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(raw), 4096):
            yield raw[start : start + 4096]

    streamed = client.post(
        "/api/conversations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413 and f"({SHARE_LIMIT} bytes)" in streamed.json()["detail"]
    assert post(client, {"items": items(("human", "x" * (SHARE_LIMIT - 200)))}).status_code == 200


def test_pages_are_exact(api: tuple[FastAPI, TestClient]) -> None:
    app, client = api
    ids = []
    for i in range(120):
        body = {"items": items(("human", f"question {i}")), "visibility": "public"}
        ids.append(post(client, body).json()["id"])
    with transaction(app.state.runtime.factory) as session:
        for i, share_id in enumerate(ids):  # item i is the i-th newest
            session.execute(
                update(shares_table)
                .where(shares_table.c.id == share_id)
                .values(created_at=2_000_000_000 - i, views=1000 - i)
            )

    def page(**params: Any) -> list[str]:
        response = client.get("/api/conversations", params=params)
        assert response.status_code == 200
        return [item["id"] for item in response.json()]

    assert page(type="new", page=1) == ids[0:50]
    assert page(type="new", page=2) == ids[50:100]
    assert page(type="new", page=3) == ids[100:120]
    assert page(type="new", page=4) == []
    assert page(type="new") == ids[0:50]
    assert page() == ids[0:50]  # type defaults to top (most views): the same order here
    assert page(type="top", page=3) == ids[100:120]
    assert client.get("/api/conversations", params={"page": 0}).status_code == 422
    assert client.get("/api/conversations", params={"type": "best"}).status_code == 422


def test_private_and_unlisted_never_reach_feeds_or_search(
    api: tuple[FastAPI, TestClient],
) -> None:
    app, client = api
    alice = make_caller(app, "alice")
    for visibility in ("private", "unlisted", "public"):
        body = {
            "items": items(("human", f"zeppelin {visibility}"), ("gpt", "Airships float.")),
            "visibility": visibility,
        }
        assert post(client, body, alice).status_code == 200
    for caller_headers in ({}, alice.headers):
        for params in (
            {"type": "new"},
            {"type": "top"},
            {"type": "trending"},
            {"search": "zeppelin"},
            {"search": "airships"},  # message text, not only titles
            {"search": "floating airship"},  # stemmed
        ):
            found = client.get("/api/conversations", params=params, headers=caller_headers)
            assert [m["title"] for m in found.json()] == ["zeppelin public"], params
    assert client.get("/api/conversations", params={"search": "nothing"}).json() == []


def test_posting_with_a_token_lands_in_the_library(api: tuple[FastAPI, TestClient]) -> None:
    app, client = api
    alice = make_caller(app, "alice")
    answer = post(client, {"items": items(("human", "mine"))}, alice).json()
    assert "manage_token" not in answer
    listed = client.get("/conversations", headers=alice.headers).json()
    assert [c["title"] for c in listed] == ["mine"]
    mine = client.get("/api/shares/mine", headers=alice.headers).json()
    assert [m["id"] for m in mine] == [answer["id"]]


NOW = 1_700_000_000.0


@pytest.fixture
def limited(web_settings: Settings) -> Iterator[tuple[FastAPI, TestClient]]:
    app = sharegpt_app(web_settings, rate_share="3/minute", trust_forwarded_for=True)
    app.state.runtime.limiter = MemoryLimiter(clock=lambda: NOW)
    with TestClient(app) as client:
        yield app, client
    app.state.runtime.close()


def test_rate_limits_are_per_address_and_per_token(
    limited: tuple[FastAPI, TestClient],
) -> None:
    app, client = limited
    body = {"items": items(("human", "hi"))}

    def from_address(address: str, caller: Caller | None = None) -> Any:
        headers = {"X-Forwarded-For": address, **(caller.headers if caller else {})}
        return client.post("/api/conversations", json=body, headers=headers)

    assert [from_address("10.0.0.1").status_code for _ in range(3)] == [200] * 3
    refused = from_address("10.0.0.1")
    assert refused.status_code == 429 and set(refused.json()) == {"detail"}
    assert "3 requests per 60 s" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert from_address("10.0.0.2").status_code == 200  # another address has its own budget
    alice, bob = make_caller(app, "alice"), make_caller(app, "bob")
    assert [from_address(f"10.1.0.{i}", alice).status_code for i in range(3)] == [200] * 3
    assert from_address("10.1.0.9", alice).status_code == 429  # the token's budget, anywhere
    assert from_address("10.2.0.1", bob).status_code == 200
    # reading the feed is not publishing: it has the read budget
    assert (
        client.get("/api/conversations", headers={"X-Forwarded-For": "10.0.0.1"}).status_code == 200
    )
