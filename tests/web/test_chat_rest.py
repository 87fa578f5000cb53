"""The Chat GPT REST API's ask side: /conversations/new and /conversations/{id}/ask."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley import tree
from parley.chat.answering import Delta, Event, Rest, Started
from parley.config import Settings
from parley.errors import NotFound
from parley.store import conversations
from parley.store.db import transaction
from parley.web.api.chat_rest import sse
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.live_server import LiveServer
from tests.web.conftest import ADMIN_KEY, Caller, conversation, seed

RESPONSE_KEYS = {
    "id",
    "author",
    "message",
    "conversation_id",
    "parent_id",
    "model",
    "finish_details",
    "end_turn",
    "recipient",
    "citations",
    "create_time",
}


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
        rate_read="100000/minute",
        rate_ask="100000/minute",
        openai_base_url=fake.url,
    )


def stored(app: FastAPI, caller: Caller, cid: str) -> dict[str, Any]:
    with transaction(app.state.runtime.factory) as session:
        return conversations.load(session, owner_id=caller.user_id or "", conversation_id=cid)


def events(body: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], orjson.loads(lines["data"])))
    return out


def test_a_new_conversation_answers_201_in_the_seed_shape(
    client: TestClient, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    response = client.post(
        "/conversations/new", json={"prompt": "Hello there"}, headers=alice.headers
    )
    assert response.status_code == 201
    item = response.json()["response"]
    assert set(item) == RESPONSE_KEYS
    assert item["author"] == {"role": "assistant", "name": None, "metadata": {}}
    assert (item["message"], item["model"], item["finish_details"]) == (
        "You said: Hello there",
        "fake-model",
        "stop",
    )
    assert (item["recipient"], item["citations"], item["end_turn"]) == ("all", [], True)
    data = stored(app, alice, item["conversation_id"])
    assert data["title"] == "Hello there" and data["current_node"] == item["id"]
    assert data["mapping"][item["id"]]["parent"] == item["parent_id"]
    assert data["mapping"][item["parent_id"]]["message"]["content"]["parts"] == ["Hello there"]
    listed = client.get(f"/conversations/{item['conversation_id']}/messages", headers=alice.headers)
    assert [m["message"] for m in listed.json()] == ["Hello there", "You said: Hello there"]
    assert listed.json()[-1] == item


def test_form_bodies_a_title_and_a_model(client: TestClient, app: FastAPI, alice: Caller) -> None:
    response = client.post(
        "/conversations/new",
        data={
            "prompt": "from a form",
            "title": "My title",
            "model": "fake-model",
            "autocontinue": "false",
        },
        headers=alice.headers,
    )
    assert response.status_code == 201
    assert stored(app, alice, response.json()["response"]["conversation_id"])["title"] == "My title"


def test_asking_goes_on_from_the_current_message_or_parent_id(
    client: TestClient, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    first = client.post("/conversations/new", json={"prompt": "one"}, headers=alice.headers).json()
    cid = first["response"]["conversation_id"]
    second = client.post(f"/conversations/{cid}/ask", json={"prompt": "two"}, headers=alice.headers)
    assert second.status_code == 201
    assert fake.chat_requests()[-1].body["messages"][:2] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "You said: one"},
    ]
    branch = client.post(
        f"/conversations/{cid}/ask",
        data={"prompt": "two again", "parent_id": first["response"]["id"]},
        headers=alice.headers,
    )
    assert branch.status_code == 201
    data = stored(app, alice, cid)
    assert len(data["mapping"][first["response"]["id"]]["children"]) == 2
    assert data["current_node"] == branch.json()["response"]["id"]


def test_autocontinue_joins_a_reply_cut_by_the_length_limit(
    client: TestClient, alice: Caller, fake: FakeOpenAI
) -> None:
    fake.script(Reply(text="The answer", finish_reason="length"), Reply(text=" is 42."))
    response = client.post(
        "/conversations/new", data={"prompt": "q", "autocontinue": "true"}, headers=alice.headers
    )
    item = response.json()["response"]
    assert (item["message"], item["finish_details"]) == ("The answer is 42.", "stop")
    assert len(fake.chat_requests()) == 2
    cut = client.post("/conversations/new", json={"prompt": "q"}, headers=alice.headers)
    assert cut.json()["response"]["finish_details"] == "stop"  # the default reply is whole
    fake.script(Reply(text="cut", finish_reason="length"))
    plain = client.post(
        "/conversations/new", json={"prompt": "q", "autocontinue": False}, headers=alice.headers
    )
    assert plain.json()["response"]["finish_details"] == "max_tokens"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "'prompt' is required"),
        ({"prompt": 3}, "'prompt' must be a string"),
        ({"prompt": "x", "autocontinue": "maybe"}, "'autocontinue' must be true or false"),
        ({"prompt": "   "}, "'prompt' is empty"),
    ],
)
def test_bad_bodies_are_422(
    client: TestClient, alice: Caller, body: dict[str, Any], detail: str
) -> None:
    response = client.post("/conversations/new", json=body, headers=alice.headers)
    assert response.status_code == 422 and response.json() == {"detail": detail}


@pytest.mark.parametrize("how", ["accept", "flag"])
def test_answers_stream_as_server_sent_events(
    client: TestClient, app: FastAPI, alice: Caller, fake: FakeOpenAI, how: str
) -> None:
    fake.script(Reply(pieces=["Str", "eam", "ed"]))
    headers = {**alice.headers, "Accept": "text/event-stream"} if how == "accept" else alice.headers
    body = {"prompt": "stream it"} if how == "accept" else {"prompt": "stream it", "stream": True}
    response = client.post("/conversations/new", json=body, headers=headers)
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("text/event-stream")
    got = events(response.text)
    names = [name for name, _ in got]  # pieces that arrive together come as one delta
    assert names[0] == "start" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    start, done = got[0][1], got[-1][1]["response"]
    assert "".join(data["text"] for name, data in got if name == "delta") == "Streamed"
    assert (done["id"], done["conversation_id"], done["parent_id"]) == (
        start["id"],
        start["conversation_id"],
        start["parent_id"],
    )
    assert done["message"] == "Streamed"
    assert stored(app, alice, done["conversation_id"])["current_node"] == done["id"]


def test_a_failure_mid_stream_is_an_error_event(
    client: TestClient, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    fake.script(Reply(pieces=["par", "tial"], drop_after=1))
    response = client.post(
        "/conversations/new", json={"prompt": "x", "stream": True}, headers=alice.headers
    )
    got = events(response.text)
    assert [name for name, _ in got] == ["start", "delta", "error"]
    error = got[-1][1]
    assert "broke off" in error["detail"] and error["response"]["message"] == "par"
    assert error["response"]["finish_details"] == "interrupted"


def test_a_failure_before_any_text_answers_its_status_and_keeps_the_prompt(
    client: TestClient, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    for stream in (False, True):
        fake.script(Reply(status=500, error="model exploded"))
        response = client.post(
            "/conversations/new", json={"prompt": "boom?", "stream": stream}, headers=alice.headers
        )
        assert response.status_code == 502
        body = response.json()
        assert "model exploded" in body["detail"]
        data = stored(app, alice, body["response"]["conversation_id"])
        assert [tree.message_text(m) for m in tree.visible_messages(data)] == ["boom?"]
        assert data["mapping"][body["response"]["id"]]["message"]["status"] == "error"


def test_a_slow_backend_is_a_504(
    client: TestClient, app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    app.state.runtime.backends.get("default").timeout = 0.3
    fake.script(Reply(first_delay=30))
    response = client.post("/conversations/new", json={"prompt": "slow"}, headers=alice.headers)
    assert response.status_code == 504
    assert "did not answer within 0.3 s" in response.json()["detail"]


def test_without_a_backend_asking_says_how_to_configure_one(
    tmp_path: Path, store_url: str, alice: Caller
) -> None:
    from parley.web.app import create_app
    from tests.web.conftest import make_caller

    bare = create_app(Settings(home=tmp_path / "bare", database_url=store_url, admin_key=ADMIN_KEY))
    try:
        caller = make_caller(bare, "carol")
        with TestClient(bare) as http:
            response = http.post(
                "/conversations/new", json={"prompt": "hi"}, headers=caller.headers
            )
        assert response.status_code == 503
        assert "PARLEY_OPENAI_BASE_URL" in response.json()["detail"]
        with transaction(bare.state.runtime.factory) as session:
            assert conversations.count(session, owner_id=caller.user_id or "") == 0
    finally:
        bare.state.runtime.close()


def test_other_users_conversations_are_404(
    client: TestClient, app: FastAPI, alice: Caller, bob: Caller, anonymous: Caller
) -> None:
    seed(app, alice, conversation("alices"))
    response = client.post("/conversations/alices/ask", json={"prompt": "hi"}, headers=bob.headers)
    assert response.status_code == 404
    assert client.post("/conversations/alices/ask", json={"prompt": "hi"}).status_code == 401
    assert client.post("/conversations/new", json={"prompt": "hi"}).status_code == 401
    unknown = client.post(
        "/conversations/alices/ask", json={"prompt": "hi", "parent_id": "zz"}, headers=alice.headers
    )
    assert unknown.status_code == 404 and "'zz'" in unknown.json()["detail"]


def test_asking_counts_against_the_ask_limit(
    tmp_path: Path, store_url: str, fake: FakeOpenAI
) -> None:
    from parley.web.app import create_app
    from tests.web.conftest import make_caller

    limited = create_app(
        Settings(
            home=tmp_path / "limited",
            database_url=store_url,
            admin_key=ADMIN_KEY,
            rate_ask="2/minute",
            openai_base_url=fake.url,
        )
    )
    try:
        caller = make_caller(limited, "dave")
        with TestClient(limited) as http:
            codes = [
                http.post("/conversations/new", json={"prompt": "hi"}, headers=caller.headers)
                for _ in range(3)
            ]
        assert [r.status_code for r in codes] == [201, 201, 429]
        assert int(codes[-1].headers["Retry-After"]) >= 1
        assert "rate limit exceeded" in codes[-1].json()["detail"]
    finally:
        limited.state.runtime.close()


def test_a_client_that_goes_away_mid_stream_leaves_an_interrupted_answer(
    app: FastAPI, alice: Caller, fake: FakeOpenAI
) -> None:
    gate = threading.Event()
    fake.script(Reply(pieces=["first ", "second"], hold_after=1, gate=gate))
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
            with http.stream(
                "POST",
                "/conversations/new",
                json={"prompt": "long", "stream": True},
                headers=alice.headers,
            ) as response:
                lines = response.iter_lines()
                start = orjson.loads(next(line for line in lines if line.startswith("data: "))[6:])
                first = next(line for line in lines if line.startswith("data: "))
                assert orjson.loads(first[6:]) == {"text": "first "}
            # the client hung up; the server notices and stores what it had
            deadline = time.monotonic() + 10
            answer: dict[str, Any] = {"status": "not stored yet"}
            while time.monotonic() < deadline:
                with contextlib.suppress(NotFound):  # its first write runs alongside the model
                    data = stored(app, alice, start["conversation_id"])
                    answer = data["mapping"][start["id"]]["message"]
                    if answer["status"] != "in_progress":
                        break
                time.sleep(0.05)
    finally:
        gate.set()
    assert answer["status"] == "finished_partial_completion"
    assert answer["content"]["parts"] == ["first "]
    assert answer["metadata"]["finish_details"] == {"type": "interrupted"}


def test_the_start_and_the_first_text_leave_as_one_chunk() -> None:
    async def nothing_more() -> AsyncGenerator[Event, None]:
        return
        yield

    async def chunks() -> list[bytes]:
        head: list[Event] = [Started("c", "p", "p", "a", True, "m"), Delta("hi")]
        return [chunk async for chunk in sse(head, Rest(nothing_more()))]

    (first,) = asyncio.run(chunks())
    start, delta = first.split(b"\n\n")[:2]
    assert start.startswith(b"event: start\ndata: ")
    assert orjson.loads(start.split(b"data: ", 1)[1])["id"] == "a"
    assert delta == b'event: delta\ndata: {"text":"hi"}'
