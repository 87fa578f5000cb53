"""The agent's OpenAI-compatible client, against the fake server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from parley.agents import upstream
from parley.agents.upstream import Delta, UpstreamError
from tests.support.fake_llm_server import FakeLLM, Reply, running, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with running(FakeLLM(models=("m1", "m2"), api_key="sk-secret")) as fake:
        yield fake


async def chat(fake: FakeLLM, prompt: str, key: str | None = "sk-secret") -> list[Delta]:
    http = upstream.client(fake.url, connections=2)
    try:
        return [
            delta
            async for delta in upstream.stream_chat(
                http,
                key,
                model="m1",
                messages=[{"role": "user", "content": prompt}],
                params={"max_tokens": 3},
            )
        ]
    finally:
        await http.aclose()


def test_base_url() -> None:
    assert upstream.base_url("http://127.0.0.1:11434") == "http://127.0.0.1:11434/v1"
    assert upstream.base_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert (
        upstream.base_url("https://api.example.com/openai/v1")
        == "https://api.example.com/openai/v1"
    )
    with pytest.raises(ValueError, match="not an http"):
        upstream.base_url("127.0.0.1:8000")


async def test_lists_models(fake: FakeLLM) -> None:
    http = upstream.client(fake.url, connections=2)
    assert await upstream.list_models(http, "sk-secret") == ["m1", "m2"]
    with pytest.raises(UpstreamError, match="HTTP 401: bad api key") as caught:
        await upstream.list_models(http, "wrong")
    assert "wrong" not in caught.value.detail
    await http.aclose()


async def test_streams_text_then_one_final_delta(fake: FakeLLM) -> None:
    fake.script("q", Reply(chunks=["a", "b"], finish_reason="length", usage={"total_tokens": 5}))
    deltas = await chat(fake, "q")
    assert deltas == [
        Delta(text="a"),
        Delta(text="b"),
        Delta(finish_reason="length", usage={"total_tokens": 5}, model="m1", final=True),
    ]
    assert fake.requests[-1]["max_tokens"] == 3 and fake.requests[-1]["stream"] is True


async def test_reads_a_whole_json_reply(fake: FakeLLM) -> None:
    fake.script("q", Reply(chunks=["all"], stream=False))
    (delta,) = await chat(fake, "q")
    assert (delta.text, delta.finish_reason, delta.final) == ("all", "stop", True)


async def test_failures_raise_upstream_errors_without_the_key(fake: FakeLLM) -> None:
    fake.script("bad", Reply(status=429))
    with pytest.raises(UpstreamError, match="HTTP 429: scripted failure 429") as caught:
        await chat(fake, "bad")
    assert "sk-secret" not in caught.value.detail
    with pytest.raises(UpstreamError, match="cannot reach the local backend"):
        await upstream.list_models(upstream.client("http://127.0.0.1:9/v1", connections=1), None)


def sse_app(*events: bytes) -> Starlette:
    """A server that sends these server-sent events, then ends the response."""

    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield b"data: " + event + b"\n\n"

    async def complete(request: Request) -> StreamingResponse:
        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", complete, methods=["POST"])])


async def stream_from(url: str) -> list[str]:
    seen = []
    http = upstream.client(url + "/v1", connections=1)
    async for delta in upstream.stream_chat(http, None, model="m", messages=[], params={}):
        seen.append(delta.text)
    await http.aclose()
    return seen


async def test_a_stream_cut_before_its_end_is_an_error() -> None:
    cut = pytest.raises(UpstreamError, match="closed the stream before the reply ended")
    with serve(sse_app(b'{"choices": [{"delta": {"content": "par"}}]}')) as url, cut:
        await stream_from(url)


async def test_an_error_event_is_an_error() -> None:
    failed = pytest.raises(UpstreamError, match="model overloaded")
    with serve(sse_app(b'{"error": {"message": "model overloaded"}}')) as url, failed:
        await stream_from(url)


async def test_done_without_a_finish_reason_means_stop() -> None:
    events = (b'{"choices": [{"delta": {"content": "ok"}}]}', b"[DONE]")
    with serve(sse_app(*events)) as url:
        assert await stream_from(url) == ["ok", ""]
