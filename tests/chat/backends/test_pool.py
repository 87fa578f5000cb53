"""The lean HTTP/1.1 transport under httpx.AsyncClient, against the fake server on loopback."""

from __future__ import annotations

import asyncio
import threading

import httpx
import orjson
import pytest

from parley.chat.backends.pool import Pool, transport_for
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.raw_http import chunked, raw_server

pytestmark = pytest.mark.anyio

BODY = orjson.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]})
STREAM = orjson.dumps(
    {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
)


def client(fake: FakeOpenAI, **options: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=fake.url,
        transport=Pool(keepalive=options.pop("keepalive", 30.0)),
        timeout=httpx.Timeout(options.pop("timeout", 5.0)),
    )


async def test_content_length_bodies_and_reuse(fake: FakeOpenAI) -> None:
    async with client(fake) as http:
        for _ in range(3):
            response = await http.get("/models")
            assert response.status_code == 200
            assert [m["id"] for m in response.json()["data"]] == ["fake-model", "other-model"]
        answer = await http.post("/chat/completions", content=BODY)
        assert answer.json()["choices"][0]["message"]["content"] == "You said: hi"
    assert fake.connections == 1


async def test_chunked_streams_are_decoded(fake: FakeOpenAI) -> None:
    fake.script(Reply(pieces=["a", "b", "c"]))
    async with client(fake) as http, http.stream("POST", "/chat/completions", content=STREAM) as r:
        assert r.headers["content-type"] == "text/event-stream"
        raw = b"".join([piece async for piece in r.aiter_raw()])
    events = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    contents = [orjson.loads(e)["choices"][0]["delta"].get("content") for e in events[1:-2]]
    assert contents == ["a", "b", "c"]


async def test_a_response_left_unread_closes_its_connection(fake: FakeOpenAI) -> None:
    fake.script(Reply(pieces=["a", "b"]))
    async with client(fake) as http:
        async with http.stream("POST", "/chat/completions", content=STREAM) as response:
            await response.aiter_raw().__anext__()  # stop after the first piece
        assert (await http.get("/models")).status_code == 200
    assert fake.connections == 2


async def test_a_connection_the_server_closed_is_replaced(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="then closed", close=True))
    async with client(fake) as http:
        first = await http.post("/chat/completions", content=BODY)
        assert first.json()["choices"][0]["message"]["content"] == "then closed"
        second = await http.post("/chat/completions", content=BODY)
        assert second.status_code == 200
    assert fake.connections == 2


async def test_idle_connections_expire(fake: FakeOpenAI) -> None:
    async with client(fake, keepalive=0.0) as http:
        await http.get("/models")
        await http.get("/models")
    assert fake.connections == 2


async def test_connect_errors_are_httpx_errors() -> None:
    async with httpx.AsyncClient(transport=Pool()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://127.0.0.1:9/nothing-listens-here")


async def test_a_stalled_body_times_out(fake: FakeOpenAI) -> None:
    gate = threading.Event()
    fake.script(Reply(pieces=["a", "b"], hold_after=1, gate=gate))
    try:
        async with (
            client(fake, timeout=0.3) as http,
            http.stream("POST", "/chat/completions", content=STREAM) as response,
        ):
            with pytest.raises(httpx.ReadTimeout):
                async for _ in response.aiter_raw():
                    pass
    finally:
        gate.set()


async def test_a_slow_head_times_out(fake: FakeOpenAI) -> None:
    fake.script(Reply(first_delay=30))
    async with client(fake, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/chat/completions", content=BODY)


async def test_concurrent_requests_each_get_a_connection(fake: FakeOpenAI) -> None:
    async with client(fake) as http:
        answers = await asyncio.gather(
            *[http.post("/chat/completions", content=BODY) for _ in range(5)]
        )
        assert {a.json()["choices"][0]["message"]["content"] for a in answers} == {"You said: hi"}
        await asyncio.gather(*[http.get("/models") for _ in range(5)])
    assert fake.connections == 5


def test_a_configured_proxy_gets_httpx_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(transport_for("https://api.example.org/v1", max_idle=8, keepalive=1), Pool)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    chosen = transport_for("https://api.example.org/v1", max_idle=8, keepalive=1)
    assert isinstance(chosen, httpx.AsyncHTTPTransport)


async def test_responses_without_a_body_do_not_wait_for_one() -> None:
    no_content = b"HTTP/1.1 204 No Content\r\nx-seen: yes\r\n\r\n"  # the connection stays open
    async with raw_server(no_content, no_content) as server:
        async with httpx.AsyncClient(transport=Pool(), timeout=5) as http:
            for _ in range(2):
                response = await http.get(f"http://127.0.0.1:{server.port}/nothing")
                assert (response.status_code, response.content) == (204, b"")
        assert server.connections == 1


async def test_a_connection_that_sent_bytes_after_the_body_is_not_reused() -> None:
    """Whatever follows a chunked body would be read as the next answer's head."""
    stray = chunked(b"ok") + b"HTTP/1.1 500 Stray\r\ncontent-length: 0\r\n\r\n"
    async with raw_server(stray, chunked(b"ok")) as server:
        async with httpx.AsyncClient(transport=Pool(), timeout=5) as http:
            for _ in range(2):
                response = await http.get(f"http://127.0.0.1:{server.port}/")
                assert (response.status_code, response.content) == (200, b"ok")
        assert server.connections == 2
