"""The agent's HTTP/1.1 client against a raw asyncio server on 127.0.0.1 that writes exactly
the bytes each test scripts (so framing, keep-alive and failures are under control)."""

from __future__ import annotations

import asyncio

import pytest

from parley.agents.http1 import Client, HTTPError, Response, _Connection
from tests.support.raw_http import CUT, chunked, raw_server, sized

pytestmark = pytest.mark.anyio


async def lines_of(client: Client, path: str = "/x") -> list[bytes]:
    async with client.request("POST", path, body=b'{"a": 1}', headers={"X-Test": "1"}) as response:
        return [line async for line in response.lines()]


async def test_chunked_lines_and_keep_alive() -> None:
    async with raw_server(
        chunked(b"data: one\r\nda", b"ta: two\n", b"\npartial"), sized(b"ok")
    ) as server:
        client = Client(f"http://127.0.0.1:{server.port}/v1")
        assert await lines_of(client) == [b"data: one", b"data: two", b"", b"partial"]
        async with client.request("GET", "/models") as response:
            assert (response.status, await response.read()) == (200, b"ok")
        assert server.connections == 1  # kept alive
        first = server.requests[0]
        assert first.startswith(b"POST /v1/x HTTP/1.1\r\n") and b"Host: 127.0.0.1:" in first
        assert b"X-Test: 1\r\n" in first and b"Content-Length: 8\r\n" in first
        assert first.endswith(b'\r\n\r\n{"a": 1}') and b"Accept-Encoding: identity" in first
        await client.aclose()


async def test_a_stale_pooled_connection_is_replaced_once() -> None:
    async with raw_server(sized(b"1"), None, sized(b"2")) as server:
        client = Client(f"http://127.0.0.1:{server.port}")
        async with client.request("GET", "/") as response:
            assert await response.read() == b"1"
        async with client.request("GET", "/") as response:  # the pooled one is closed: retried
            assert await response.read() == b"2"
        assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        sized(b"x", extra=b"Connection: close\r\n"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\n\r\nx",  # framed by the end of the connection
        chunked(b"x") + b"HTTP/1.1 500 Stray\r\n\r\n",  # bytes after the body
    ],
)
async def test_connections_that_must_close_are_not_reused(answer: bytes) -> None:
    async with raw_server(answer, sized(b"y")) as server:
        client = Client(f"http://127.0.0.1:{server.port}")
        async with client.request("GET", "/") as response:
            assert await response.read() == b"x"
        async with client.request("GET", "/") as response:
            assert await response.read() == b"y"
        assert server.connections == 2


async def test_leaving_early_closes_the_connection() -> None:
    async with raw_server(chunked(b"a\n", b"b\n"), sized(b"next")) as server:
        client = Client(f"http://127.0.0.1:{server.port}")
        async with client.request("GET", "/") as response:
            async for _line in response.lines():
                break
        async with client.request("GET", "/") as response:
            assert await response.read() == b"next"
        assert server.connections == 2


async def test_no_body_statuses_and_error_statuses() -> None:
    async with raw_server(
        b"HTTP/1.1 204 No Content\r\n\r\n", sized(b'{"error": 1}', b"500 Oops")
    ) as server:
        client = Client(f"http://127.0.0.1:{server.port}")
        async with client.request("DELETE", "/") as response:
            assert (response.status, await response.read()) == (204, b"")
        async with client.request("GET", "/") as response:
            assert (response.status, await response.read()) == (500, b'{"error": 1}')
        assert server.connections == 1


async def test_failures_are_http_errors() -> None:
    with pytest.raises(HTTPError, match=r"cannot connect to 127\.0\.0\.1:9"):
        async with Client("http://127.0.0.1:9").request("GET", "/"):
            pass
    async with raw_server(b"SSH-2.0-nope\r\n\r\n") as server:
        with pytest.raises(HTTPError, match=r"did not answer HTTP/1\.1"):
            async with Client(f"http://127.0.0.1:{server.port}").request("GET", "/"):
                pass
    async with raw_server(b"HANG") as server:
        with pytest.raises(HTTPError, match=r"no answer from 127\.0\.0\.1:\d+ within 0\.05 s"):
            async with Client(f"http://127.0.0.1:{server.port}", read_timeout=0.05).request(
                "GET", "/"
            ):
                pass
    async with raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc" + CUT) as server:
        client = Client(f"http://127.0.0.1:{server.port}")
        with pytest.raises(HTTPError, match="closed the connection before the body ended"):
            async with client.request("GET", "/") as response:
                await response.read()
    async with raw_server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") as server:
        with pytest.raises(HTTPError, match="malformed chunked body"):
            async with Client(f"http://127.0.0.1:{server.port}").request("GET", "/") as response:
                await response.read()


async def test_a_body_over_the_limit_is_refused() -> None:
    async with raw_server(sized(b"x" * 100)) as server:
        client = Client(f"http://127.0.0.1:{server.port}")
        with pytest.raises(HTTPError, match="larger than 10 bytes"):
            async with client.request("GET", "/") as response:
                await response.read(limit=10)


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Client("ftp://example.org")
    client = Client("https://user@example.org:8443/api/")
    assert (client.host, client.port, client.prefix, client.host_header) == (
        "example.org",
        8443,
        "/api",
        "example.org:8443",
    )
    assert (
        client.ssl is not None and Client("http://h").port == 80 and Client("https://h").port == 443
    )


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
async def test_chunked_bodies_decode_whatever_the_read_boundaries(step: int) -> None:
    body = b"4\r\nab\r\n\r\n3;x=y\r\ncd\n\r\n0\r\nTrailer: 1\r\n\r\n"
    reader = asyncio.StreamReader()
    response = Response(_Connection(reader, None), 200, {"transfer-encoding": "chunked"}, 5.0)  # type: ignore[arg-type]

    async def feed() -> None:
        for at in range(0, len(body), step):
            reader.feed_data(body[at : at + step])
            await asyncio.sleep(0)  # let the decoder see each piece on its own

    feeding = asyncio.ensure_future(feed())
    assert [line async for line in response.lines()] == [b"ab", b"cd"]
    await feeding
    assert response.complete and response.headers.get("connection") is None
