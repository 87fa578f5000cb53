"""A small HTTP/1.1 client for the agent's local backend: a keep-alive pool, streamed bodies.

Why not httpx here: an agent relays hundreds of concurrent streams, and httpx's pool
checks every pooled connection (a ``poll()`` each) whenever a request starts or ends,
which at a hundred connections cost more than relaying the streams (measured with
bench/_agent_target.py). This client only does what an agent needs, and does it cheaply.

Contract:

* ``Client(base_url)`` sends to one origin (``http`` or ``https``; no proxy, no
  redirects, no compression: it asks for ``identity``);
* ``async with client.request(method, path, body=..., headers=...) as response``:
  ``response.status``, ``response.headers`` (lower-case names), then ``lines()`` (the
  body's lines, without line endings) or ``read()`` (the whole body);
* bodies framed by ``Transfer-Encoding: chunked``, by ``Content-Length`` or by the end of
  the connection; 1xx-less, 204 and 304 responses have none;
* a connection goes back to the pool only when its response was read to the end,
  nothing came after it and neither side asked to close it; an early exit, an error or
  a cancellation closes it;
* a request on a pooled connection that fails before any byte of the answer arrived (the
  server had closed it) is sent once more on a new connection;
* every failure is an :class:`HTTPError`: refused or reset connections, timeouts
  (``connect_timeout``, and ``read_timeout`` for each read), malformed answers.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from parley.http_wire import Dechunker, parse_head

READ_SIZE = 65536
MAX_BODY = 256 * 1024**2


class HTTPError(Exception):
    pass


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.transport.abort()


class Response:
    def __init__(
        self, connection: _Connection, status: int, headers: dict[str, str], read_timeout: float
    ) -> None:
        self.status = status
        self.headers = headers
        self.complete = False
        self._connection = connection
        self._timeout = read_timeout
        encoding = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in encoding
        length = headers.get("content-length")
        self._length = int(length) if length and length.isdigit() and not self._chunked else None
        if status in (204, 304) or (100 <= status < 200):
            self._length = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, in pieces: each is everything that arrived since the previous one."""
        try:
            if self._chunked:
                async for piece in self._dechunk():
                    yield piece
            elif self._length is not None:
                left = self._length
                while left > 0:
                    data = await self._more(min(left, READ_SIZE))
                    if not data:
                        raise HTTPError("the server closed the connection before the body ended")
                    left -= len(data)
                    yield data
            else:
                while data := await self._more(READ_SIZE):
                    yield data
                self.headers["connection"] = "close"
        except TimeoutError:
            raise HTTPError(f"no data from the server for {self._timeout:g} s") from None
        except OSError as error:
            raise HTTPError(f"the connection failed while reading the body: {error!r}") from None
        except ValueError:
            raise HTTPError("the server sent a malformed chunked body") from None
        self.complete = True

    async def _more(self, size: int) -> bytes:
        async with asyncio.timeout(self._timeout):
            return await self._connection.reader.read(size)

    async def _dechunk(self) -> AsyncIterator[bytes]:
        """Decode ``Transfer-Encoding: chunked``, joining the chunks that arrived together
        (one read may bring many: servers send one per event)."""
        body = Dechunker()
        while not body.done:
            data = await self._more(READ_SIZE)
            if not data:
                raise HTTPError("the server closed the connection before the body ended")
            if payload := body.feed(data):
                yield payload
        if body.extra:  # bytes after the body: do not reuse this connection
            self.headers["connection"] = "close"

    async def lines(self) -> AsyncIterator[bytes]:
        """The body's lines (``\\n`` or ``\\r\\n`` endings removed); the last may be partial."""
        pending = b""
        async for piece in self.chunks():
            pending += piece
            if b"\n" in pending:
                *ready, pending = pending.split(b"\n")
                for line in ready:
                    yield line[:-1] if line.endswith(b"\r") else line
        if pending:
            yield pending

    async def read(self, limit: int = MAX_BODY) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for piece in self.chunks():
            size += len(piece)
            if size > limit:
                raise HTTPError(f"the response body is larger than {limit} bytes")
            parts.append(piece)
        return b"".join(parts)


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        max_idle: int = 100,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http(s) URL")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.host_header = parts.netloc.rpartition("@")[2]
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: list[_Connection] = []

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.ssl, limit=READ_SIZE * 4
                )
        except TimeoutError:
            where = f"{self.host}:{self.port}"
            raise HTTPError(f"no connection to {where} within {self.connect_timeout:g} s") from None
        except OSError as error:
            raise HTTPError(f"cannot connect to {self.host}:{self.port}: {error}") from None
        return _Connection(reader, writer)

    async def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[_Connection, int, dict[str, str]]:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += ["Accept-Encoding: identity", f"Content-Length: {len(body)}", "", ""]
        request = "\r\n".join(lines).encode("latin-1") + body
        for attempt in (1, 2):
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else await self._connect()
            try:
                connection.writer.write(request)
                await connection.writer.drain()
                async with asyncio.timeout(self.read_timeout):
                    head = await connection.reader.readuntil(b"\r\n\r\n")
            except TimeoutError:
                connection.close()
                raise HTTPError(
                    f"no answer from {self.host}:{self.port} within {self.read_timeout:g} s"
                ) from None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                connection.close()
                nothing = not getattr(error, "partial", b"")
                if reused and attempt == 1 and nothing:
                    continue  # the server had closed the idle connection
                where = f"{self.host}:{self.port}"
                raise HTTPError(f"the request to {where} failed: {error!r}") from None
            except BaseException:
                connection.close()
                raise
            try:
                status, answer_headers = _parse_head(head)
            except ValueError:
                connection.close()
                raise HTTPError(f"{self.host}:{self.port} did not answer HTTP/1.1") from None
            return connection, status, answer_headers
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[Response]:
        connection, status, answer = await self._send(method, path, body, headers or {})
        response = Response(connection, status, answer, self.read_timeout)
        keep = False
        try:
            yield response
            keep = response.complete and "close" not in answer.get("connection", "").lower()
        finally:
            if keep and len(self._idle) < self.max_idle:
                self._idle.append(connection)
            else:
                connection.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status and headers (names lower-cased, repeats joined with commas)."""
    version, status, fields = parse_head(head)
    headers: dict[str, str] = {}
    for name, value in fields:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    if version == b"HTTP/1.0" and "keep-alive" not in headers.get("connection", "").lower():
        headers["connection"] = "close"
    return status, headers
