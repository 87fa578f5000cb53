"""A byte-for-byte relay in front of the fake backend: the scale for ``chat_bench.py``.

    .venv/bin/python bench/_relay.py PORT UPSTREAM_PORT

Each client connection gets its own upstream connection; requests (``Content-Length``
bodies) go up unchanged and responses come back unchanged, piece by piece as they are
read. It parses nothing but the framing it needs, stores nothing and checks nothing, so
what ``chat_bench.py`` measures through it is what any relay costs on this machine (two
more socket hops per piece, one more process sharing the CPUs), and how much the
measurement itself moves between runs. It knows one upstream: the fake, whose chunked
responses end with the zero-size chunk.

:func:`add_frame_route` puts the same relay inside a Parley app, as the bench's server
does for its *frame* column: ``POST /bench/frame/v1/chat/completions`` goes through
uvicorn, Parley's middleware and FastAPI's routing, and answers with Parley's
``EventStream``, but relays the fake's events as they come without the chat engine,
backends or store. Beside *relay*, it shows what the web stack costs per piece.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import AsyncGenerator
from typing import Any

from starlette.requests import Request  # module level: FastAPI resolves the annotation here

_END = b"0\r\n\r\n"


def content_length(head: bytes) -> int:
    """The ``Content-Length`` of an HTTP head (0 when it has none)."""
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    return int(lower[at + 17 : lower.index(b"\r\n", at + 2)]) if at >= 0 else 0


async def _relay(
    upstream_port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port, limit=1 << 22)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            up_writer.write(head + await reader.readexactly(content_length(head)))
            answer = await up_reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            if b"transfer-encoding: chunked" in answer.lower():
                data = b""
                while not data.endswith(_END):
                    data = await up_reader.read(1 << 16)
                    if not data:
                        return
                    writer.write(data)
            else:
                writer.write(await up_reader.readexactly(content_length(answer)))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        up_writer.close()


async def _dechunked(
    upstream_port: int, idle: list[Any], request: bytes
) -> AsyncGenerator[bytes, None]:
    """The fake's answer to ``request``: its body, every complete chunk a read brought joined."""
    reader, writer = (
        idle.pop()
        if idle
        else await asyncio.open_connection("127.0.0.1", upstream_port, limit=1 << 22)
    )
    writer.write(request)
    await reader.readuntil(b"\r\n\r\n")
    buffer, ended = b"", False
    while not ended:
        data = await reader.read(1 << 16)
        if not data:
            writer.close()
            return
        buffer += data
        pieces = []
        while (end := buffer.find(b"\r\n")) >= 0:
            size = int(buffer[:end], 16)
            if size == 0:
                ended = True
                break
            if len(buffer) < end + size + 4:
                break
            pieces.append(buffer[end + 2 : end + 2 + size])
            buffer = buffer[end + size + 4 :]
        if pieces:
            yield b"".join(pieces)
    idle.append((reader, writer))


def add_frame_route(app: Any, upstream_port: int) -> None:
    """``POST /bench/frame/v1/chat/completions`` on ``app`` (see the module docstring)."""
    from parley.web.streaming import EventStream

    idle: list[Any] = []

    async def frame(request: Request) -> EventStream:
        body = await request.body()
        head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: fake\r\n"
        head += b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
        return EventStream(_dechunked(upstream_port, idle, head + body))

    app.add_api_route(
        "/bench/frame/v1/chat/completions", frame, methods=["POST"], include_in_schema=False
    )


async def main(port: int, upstream_port: int) -> None:
    relay = functools.partial(_relay, upstream_port)
    server = await asyncio.start_server(relay, "127.0.0.1", port, limit=1 << 22)
    print(f"relay: 127.0.0.1:{port} -> 127.0.0.1:{upstream_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
