"""EventStream: chunks go out as they come; a client that leaves ends the stream and its
producer's cleanup runs, however early it leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from parley.web.streaming import EventStream

pytestmark = pytest.mark.anyio

SCOPE: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Client:
    """An ASGI peer: records what is sent; ``leave()`` makes ``receive`` say it is gone."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.hold_start: asyncio.Event | None = None  # set: the start message waits on it

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and self.hold_start is not None:
            await self.hold_start.wait()
        self.sent.append(message)

    def leave(self) -> None:
        self.gone.set()

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def test_chunks_are_sent_as_they_are_yielded_then_the_end() -> None:
    client = Client()

    async def chunks() -> AsyncGenerator[bytes, None]:
        yield b"event: a\n\n"
        await asyncio.sleep(0)
        yield b"event: b\n\n"

    response = EventStream(chunks(), status_code=201, headers={"Cache-Control": "no-cache"})
    await response(SCOPE, client.receive, client.send)
    start = client.sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 201
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-cache"
    assert client.bodies == [b"event: a\n\n", b"event: b\n\n", b""]
    assert [m.get("more_body") for m in client.sent[1:]] == [True, True, False]


async def test_a_client_that_leaves_mid_stream_ends_it_and_the_producer_cleans_up() -> None:
    client = Client()
    cleaned: list[str] = []
    never = asyncio.Event()

    async def chunks() -> AsyncGenerator[bytes, None]:
        try:
            yield b"first"
            client.leave()
            await never.wait()  # a model that has not answered yet
            yield b"never sent"
        finally:
            cleaned.append("closed")

    await asyncio.wait_for(EventStream(chunks())(SCOPE, client.receive, client.send), 5)
    assert cleaned == ["closed"]
    assert client.bodies == [b"first"]  # no end: the client is gone


async def test_a_client_that_leaves_before_the_first_byte_still_closes_the_producer() -> None:
    client = Client()
    client.hold_start = asyncio.Event()  # the start message waits: cancelled right there
    cleaned: list[str] = []

    async def chunks() -> AsyncGenerator[bytes, None]:
        try:
            yield b"head"
            yield b"more"
        finally:
            cleaned.append("closed")

    client.leave()
    await asyncio.wait_for(EventStream(chunks())(SCOPE, client.receive, client.send), 5)
    assert cleaned == ["closed"]
    assert client.sent == []


async def test_a_finished_stream_is_not_cancelled_by_the_disconnect_that_follows() -> None:
    client = Client()

    async def chunks() -> AsyncGenerator[bytes, None]:
        yield b"only"

    before = asyncio.all_tasks()
    await EventStream(chunks())(SCOPE, client.receive, client.send)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before  # the task that waited for the disconnect is gone
    client.leave()  # what a server says once the response is complete
    await asyncio.sleep(0)
    assert client.bodies == [b"only", b""]
    task = asyncio.current_task()
    assert task is not None and not task.cancelling()
