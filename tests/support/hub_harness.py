"""A hub behind a real ``websockets`` server on 127.0.0.1, scripted agents speaking raw
frames to it, and helpers to drive it.

The server stands in for the web layer: a bearer token (or an ``X-Owner`` header) names
the agent's owner; a token in ``refused`` gets HTTP 401 ``{"detail": ...}`` at the
handshake, as the real endpoint answers (tests/web/test_agents.py covers that one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from parley.agents import protocol
from parley.agents.connection import Owner, TransportClosed
from parley.agents.hub import Hub
from parley.chat.backends.base import ChatRequest, Chunk

DEADLINE = 10.0


class WsTransport:
    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws

    async def receive(self) -> str | bytes:
        try:
            return await self.ws.recv()
        except ConnectionClosed as closed:
            raise TransportClosed(str(closed)) from None

    async def send(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except ConnectionClosed as closed:
            raise TransportClosed(str(closed)) from None

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)


def _owner_of(headers: Headers) -> str:
    auth = headers.get("Authorization", "")
    return headers.get("X-Owner") or auth.removeprefix("Bearer ").strip() or "nobody"


@asynccontextmanager
async def hub_server(hub: Hub, *, refused: frozenset[str] = frozenset()) -> AsyncIterator[str]:
    """Serve ``hub``; yields its ``ws://127.0.0.1:PORT`` URL."""

    def check(connection: ServerConnection, request: Request) -> Response | None:
        if _owner_of(request.headers) in refused:
            body = orjson.dumps({"detail": "invalid agent token"})
            headers = Headers([("Content-Type", "application/json")])
            return Response(401, "Unauthorized", headers, body)
        return None

    async def handler(ws: ServerConnection) -> None:
        owner = _owner_of(ws.request.headers) if ws.request else "nobody"
        await hub.serve(WsTransport(ws), Owner(user_id=owner, name=owner))

    async with serve(handler, "127.0.0.1", 0, ping_interval=None, process_request=check) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Wait until ``condition()`` holds, polling; fail after ``deadline`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.005)


def ask(text: str = "hi", model: str = "m", **extra: object) -> ChatRequest:
    return ChatRequest(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=9, extra=extra
    )


async def collect(hub: Hub, request: ChatRequest, into: list[Chunk]) -> list[Chunk]:
    async for chunk in hub.stream(request):
        into.append(chunk)
    return into


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.text for c in chunks)


class ScriptedAgent:
    """A raw protocol client: answers pings (unless silent), queues every other frame."""

    def __init__(self, ws: ClientConnection, *, silent: bool = False) -> None:
        self.ws = ws
        self.silent = silent
        self.id = ""
        self.frames: asyncio.Queue[protocol.HubFrame] = asyncio.Queue()
        self.pings = 0
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = protocol.from_hub(raw)
                if isinstance(frame, protocol.Ping):
                    self.pings += 1
                    if not self.silent:
                        await self.send(protocol.Pong(ts=frame.ts))
                    continue
                await self.frames.put(frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send(self, frame: protocol.AgentFrame) -> None:
        await self.ws.send(protocol.encode(frame))

    async def next(self) -> protocol.HubFrame:
        return await asyncio.wait_for(self.frames.get(), DEADLINE)

    async def request(self) -> protocol.Request:
        frame = await self.next()
        assert isinstance(frame, protocol.Request), frame
        return frame

    async def answer(self, request: protocol.Request, *texts: str) -> None:
        for text in texts:
            await self.send(protocol.Chunk(id=request.id, text=text))
        await self.send(protocol.Done(id=request.id, finish_reason="stop", model=request.model))

    def kill(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        assert self.ws.transport is not None
        self.ws.transport.abort()


@asynccontextmanager
async def agent(
    url: str,
    *,
    owner: str = "u1",
    models: tuple[str, ...] = ("m",),
    concurrency: int = 1,
    agent_id: str | None = None,
    silent: bool = False,
) -> AsyncIterator[ScriptedAgent]:
    async with connect(url, additional_headers={"X-Owner": owner}, ping_interval=None) as ws:
        scripted = ScriptedAgent(ws, silent=silent)
        await scripted.send(
            protocol.Register(models=list(models), concurrency=concurrency, agent_id=agent_id)
        )
        registered = await scripted.next()
        assert isinstance(registered, protocol.Registered), registered
        scripted.id = registered.agent_id
        yield scripted


def start(coro: Awaitable[Any]) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)


async def partly_answered(
    hub: Hub, worker: ScriptedAgent, text: str = "Hel"
) -> tuple[asyncio.Task[list[Chunk]], list[Chunk]]:
    """A request on ``hub`` that ``worker`` has sent ``text`` of, which reached the
    consumer: (the consuming task, the chunks it got)."""
    out: list[Chunk] = []
    task = start(collect(hub, ask(), out))
    request = await worker.request()
    await worker.send(protocol.Chunk(id=request.id, text=text))
    await until(lambda: bool(out), "the first chunk reached the consumer")
    return task, out
