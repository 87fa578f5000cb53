"""A raw HTTP/1.1 server on 127.0.0.1 that writes exactly the bytes each test scripts, so
that a client's framing, keep-alive and failure handling are under the test's control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

CUT = b"<then close>"


@dataclass
class RawServer:
    """Answers each request with the next scripted bytes; ``None`` closes the connection, and
    so does an answer without framing or ending with :data:`CUT`; ``HANG`` never answers."""

    answers: list[bytes | None] = field(default_factory=list)
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0
    hang: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                self.requests.append(head + (await reader.readexactly(length) if length else b""))
                answer = self.answers.pop(0) if self.answers else b"HANG"
                if answer is None:
                    break
                if answer == b"HANG":
                    await self.hang.wait()
                    break
                writer.write(answer.removesuffix(CUT))
                await writer.drain()
                framed = b"content-length" in answer.lower() or b"chunked" in answer.lower()
                if answer.endswith(CUT) or not (framed or answer.startswith(b"HTTP/1.1 204")):
                    break  # the body ends with the connection (or is cut short)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def raw_server(*answers: bytes | None) -> AsyncIterator[RawServer]:
    state = RawServer(list(answers))
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        state.hang.set()
        server.close()


def chunked(*pieces: bytes, extra_headers: bytes = b"") -> bytes:
    body = b"".join(b"%x;ext=1\r\n%b\r\n" % (len(p), p) for p in pieces)
    return (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        + extra_headers
        + b"\r\n"
        + body
        + b"0\r\nX-Trailer: t\r\n\r\n"
    )


def sized(body: bytes, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n" + body
    )
