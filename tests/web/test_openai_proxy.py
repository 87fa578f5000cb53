"""The OpenAI-compatible endpoint, driven by the official ``openai`` client over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley import tree
from parley.chat.answering import Delta, Event, Rest, Started
from parley.config import Settings
from parley.store import conversations
from parley.store.db import transaction
from parley.web.api.openai_proxy import chunks
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.live_server import LiveServer
from tests.web.conftest import ADMIN_KEY, Caller


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("fake-model", "fake-mini")) as server:
        yield server


@pytest.fixture
def web_settings(tmp_path: Path, store_url: str, fake: FakeOpenAI) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=store_url,
        admin_key=ADMIN_KEY,
        rate_ask="100000/minute",
        rate_read="100000/minute",
        openai_base_url=fake.url,
    )


@pytest.fixture
def server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def sdk(server: LiveServer, alice: Caller) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=alice.token, max_retries=0) as client:
        yield client


def library(app: FastAPI, caller: Caller) -> list[dict[str, Any]]:
    with transaction(app.state.runtime.factory) as session:
        pks = [s.pk for s in conversations.summaries(session, owner_id=caller.user_id or "")]
        return list(conversations.load_many(session, pks=pks))


def visible(data: dict[str, Any]) -> list[str]:
    return [tree.message_text(m) for m in tree.visible_messages(data)]


def test_models_are_listed(sdk: openai.OpenAI) -> None:
    models = sdk.models.list()
    assert [(m.id, m.owned_by) for m in models.data] == [
        ("fake-model", "default"),
        ("fake-mini", "default"),
    ]


def test_a_completion_is_answered_and_stored(
    sdk: openai.OpenAI, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="fake-model",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is Parley?"},
        ],
        temperature=0.1,
        max_tokens=50,
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "You said: What is Parley?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    sent = fake.chat_requests()[0].body
    assert (sent["temperature"], sent["max_tokens"]) == (0.1, 50)
    (data,) = library(app, alice)
    assert raw.headers["x-parley-conversation-id"] == data["id"]
    assert raw.headers["x-parley-message-id"] == data["current_node"]
    assert data["title"] == "What is Parley?"
    assert visible(data) == ["What is Parley?", "You said: What is Parley?"]


def test_a_streamed_completion_with_usage(
    sdk: openai.OpenAI, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    fake.script(Reply(pieces=["Stre", "amed ", "text"]))
    stream = sdk.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streamed text"
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    (data,) = library(app, alice)
    assert visible(data) == ["stream please", "Streamed text"]


def test_a_chat_through_the_client_is_one_tree(
    sdk: openai.OpenAI, app: FastAPI, alice: Caller
) -> None:
    messages: list[Any] = [{"role": "user", "content": "first"}]
    for turn in ("second", "third"):
        reply = sdk.chat.completions.create(model="fake-model", messages=messages)
        messages += [{"role": "assistant", "content": reply.choices[0].message.content}]
        messages += [{"role": "user", "content": turn}]
    sdk.chat.completions.create(model="fake-model", messages=messages)
    (data,) = library(app, alice)
    assert visible(data) == [
        "first",
        "You said: first",
        "second",
        "You said: second",
        "third",
        "You said: third",
    ]
    assert len(data["mapping"]) == 7
    # the user edits "second" in their client: a branch at that point
    edited = [*messages[:2], {"role": "user", "content": "second, edited"}]
    sdk.chat.completions.create(model="fake-model", messages=edited)
    (data,) = library(app, alice)
    assert visible(data) == [
        "first",
        "You said: first",
        "second, edited",
        "You said: second, edited",
    ]
    shape = tree.Tree.build(data["mapping"])
    answer = shape.path_to(data["current_node"])[2]
    assert len(shape.children[answer]) == 2


def test_errors_reach_the_client_as_openai_errors(
    sdk: openai.OpenAI, server: LiveServer, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    fake.script(Reply(status=500, error="upstream exploded"))
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502 and "upstream exploded" in str(caught.value)
    fake.script(Reply(pieces=["par", "tial"], drop_after=1))
    with pytest.raises(openai.APIError, match="broke off"):
        list(
            sdk.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": "y"}], stream=True
            )
        )
    texts = sorted(visible(data)[-1] for data in library(app, alice))
    assert texts == ["par", "x"]  # the failed exchanges are kept: one partial, one with no text
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "z"}], n=2
        )
    with pytest.raises(openai.APIStatusError) as unknown:
        sdk.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "z"}])
    assert unknown.value.status_code == 503
    stranger = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with stranger, pytest.raises(openai.AuthenticationError):
        stranger.models.list()


def test_without_a_model_the_default_is_used(
    client: TestClient, alice: Caller, fake: FakeOpenAI
) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers=alice.headers,
    )
    assert response.status_code == 200
    assert response.json()["model"] == "fake-model"
    assert fake.chat_requests()[0].body["model"] == "fake-model"


def test_the_proxy_needs_a_token(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 401
    assert client.get("/v1/models").status_code == 401


def test_the_role_and_the_first_text_leave_as_one_chunk() -> None:
    async def nothing_more() -> AsyncGenerator[Event, None]:
        return
        yield

    async def stream() -> list[bytes]:
        head: list[Event] = [Started("c", None, "p", None, False, "m"), Delta("hi")]
        rest = Rest(nothing_more())
        return [chunk async for chunk in chunks(head, rest, include_usage=False)]

    (first,) = asyncio.run(stream())
    role, text = (orjson.loads(e[6:]) for e in first.split(b"\n\n")[:2])
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text["choices"][0]["delta"] == {"content": "hi"}
    assert role["id"] == text["id"] and role["model"] == "m"
