"""A hub behind a real ``websockets`` server on 127.0.0.1, and helpers to drive it.

The server stands in for the web layer: a bearer token (or an ``X-Owner`` header) names
the agent's owner; a token in ``refused`` gets HTTP 401 ``{"detail": ...}`` at the
handshake, as the real endpoint answers (tests/web/test_agents.py covers that one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

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
