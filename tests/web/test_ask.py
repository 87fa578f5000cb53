"""The ChatGPT-API-server's POST /api/ask, as its seed clients call it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley import tree
from parley.config import Settings
from parley.store import conversations
from parley.store.db import transaction
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.web.conftest import ADMIN_KEY, Caller, conversation, seed


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("fake-model",)) as server:
        yield server


@pytest.fixture
def web_settings(tmp_path: Path, store_url: str, fake: FakeOpenAI) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=store_url,
        admin_key=ADMIN_KEY,
        rate_ask="100000/minute",
        openai_base_url=fake.url,
    )


def seed_style(client: TestClient, token: str | None, body: bytes) -> Any:
    """What the seed's curl sends: a bare token, JSON under curl's default form type."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token:
        headers["Authorization"] = token
    return client.post("/api/ask", content=body, headers=headers)


def history(app: FastAPI, caller: Caller, cid: str) -> list[str]:
    with transaction(app.state.runtime.factory) as session:
        data = conversations.load(session, owner_id=caller.user_id or "", conversation_id=cid)
    return [tree.message_text(m) for m in tree.visible_messages(data)]


def test_the_seed_request_gets_the_seed_response(
    client: TestClient, app: FastAPI, alice: Caller
) -> None:
    response = seed_style(client, alice.token, b'{"content": "Hello world"}')
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "response_id", "conversation_id", "content", "error"}
    assert (body["content"], body["error"]) == ("You said: Hello world", "")
    assert history(app, alice, body["conversation_id"]) == ["Hello world", "You said: Hello world"]


def test_conversation_and_parent_ids_go_on_from_an_answer(
    client: TestClient, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    first = seed_style(client, alice.token, b'{"content": "one"}').json()
    cid = first["conversation_id"]
    second = client.post(
        "/api/ask",
        json={"content": "two", "conversation_id": cid, "parent_id": first["response_id"]},
        headers=alice.headers,
    ).json()
    assert second["conversation_id"] == cid and second["error"] == ""
    assert fake.chat_requests()[-1].body["messages"][-3:] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "You said: one"},
        {"role": "user", "content": "two"},
    ]
    # going on from the first answer again branches beside "two"
    client.post(
        "/api/ask",
        data={
            "content": "two, take two",
            "conversation_id": cid,
            "parent_id": first["response_id"],
        },
        headers=alice.headers,
    )
    assert history(app, alice, cid) == [
        "one",
        "You said: one",
        "two, take two",
        "You said: two, take two",
    ]


def test_a_failed_call_fills_error_and_keeps_the_partial_answer(
    client: TestClient, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    fake.script(Reply(pieces=["half ", "of it"], drop_after=1))
    response = client.post("/api/ask", json={"content": "go"}, headers=alice.headers)
    assert response.status_code == 502
    body = response.json()
    assert body["content"] == "half " and "broke off" in body["error"]
    assert body["detail"] == body["error"]
    assert history(app, alice, body["conversation_id"]) == ["go", "half "]


def test_mistakes_and_strangers(
    client: TestClient, app: FastAPI, alice: Caller, bob: Caller, anonymous: Caller
) -> None:
    assert seed_style(client, None, b'{"content": "hi"}').status_code == 401
    assert seed_style(client, "not-a-token", b'{"content": "hi"}').status_code == 401
    missing = client.post("/api/ask", json={}, headers=alice.headers)
    assert missing.status_code == 422 and missing.json() == {"detail": "'content' is required"}
    orphan = client.post("/api/ask", json={"content": "x", "parent_id": "p"}, headers=alice.headers)
    assert orphan.status_code == 400 and "conversation_id" in orphan.json()["detail"]
    seed(app, alice, conversation("alices"))
    stranger = client.post(
        "/api/ask", json={"content": "x", "conversation_id": "alices"}, headers=bob.headers
    )
    assert stranger.status_code == 404
