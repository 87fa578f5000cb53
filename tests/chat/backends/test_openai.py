"""The OpenAI-compatible backend against a fake server on loopback: streaming, errors, retries."""

from __future__ import annotations

import asyncio
import threading

import orjson
import pytest

from parley.chat.backends.base import BackendError, ChatRequest, Chunk
from parley.chat.backends.openai import OpenAIBackend
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.live_server import free_port

pytestmark = pytest.mark.anyio

HELLO = ChatRequest(model="fake-model", messages=[{"role": "user", "content": "hello"}])


async def collect(backend: OpenAIBackend, request: ChatRequest = HELLO) -> list[Chunk]:
    return [chunk async for chunk in backend.stream(request)]


def text(chunks: list[Chunk]) -> str:
    return "".join(chunk.text for chunk in chunks)


async def test_streams_the_reply_with_its_finish_reason_and_usage(fake: FakeOpenAI) -> None:
    fake.script(Reply(pieces=["Hel", "lo ", "there"]))
    backend = OpenAIBackend("b", fake.url, api_key="sk-secret")
    chunks = await collect(backend)
    assert text(chunks) == "Hello there"
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
    usage = [c.usage for c in chunks if c.usage]
    assert usage == [{"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}]
    assert {c.model for c in chunks} == {"fake-model"}
    (sent,) = fake.chat_requests()
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"] == [{"role": "user", "content": "hello"}]
    assert sent.headers["authorization"] == "Bearer sk-secret"
    assert sent.path == "/v1/chat/completions"


async def test_pieces_stream_as_they_come_and_bursts_are_joined(fake: FakeOpenAI) -> None:
    gate = threading.Event()
    fake.script(Reply(pieces=["first", " second", " third"], hold_after=1, gate=gate))
    chunks = OpenAIBackend("b", fake.url).stream(HELLO)
    try:
        first = await chunks.__anext__()
        assert first.text == "first"  # on its own: the rest is not even sent yet
    finally:
        gate.set()
    rest = [chunk async for chunk in chunks]
    assert "".join(c.text for c in rest) == " second third"
    assert rest[-1].finish_reason == "stop" or any(c.finish_reason == "stop" for c in rest)


async def test_passes_other_parameters_on(fake: FakeOpenAI) -> None:
    request = ChatRequest(
        model="fake-model",
        messages=[{"role": "user", "content": "x"}],
        max_tokens=7,
        temperature=0.2,
        extra={"top_p": 0.5, "stop": ["\n"]},
    )
    await collect(OpenAIBackend("b", fake.url), request)
    body = fake.chat_requests()[0].body
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["stop"]) == (
        7,
        0.2,
        0.5,
        ["\n"],
    )


async def test_a_length_cut_off_is_reported(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="cut here", finish_reason="length"))
    chunks = await collect(OpenAIBackend("b", fake.url))
    assert text(chunks) == "cut here"
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["length"]


async def test_a_server_that_does_not_stream_is_read_whole(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="all at once", plain=True))
    chunks = await collect(OpenAIBackend("b", fake.url))
    assert text(chunks) == "all at once"
    assert chunks[-1].finish_reason == "stop"


async def test_keeps_one_connection_for_successive_requests(fake: FakeOpenAI) -> None:
    backend = OpenAIBackend("b", fake.url)
    for _ in range(3):
        assert text(await collect(backend)) == "You said: hello"
    assert fake.connections == 1


async def test_retries_when_the_connection_drops_before_any_byte(fake: FakeOpenAI) -> None:
    fake.script(Reply(refuse=True), Reply(text="second try"))
    chunks = await collect(OpenAIBackend("b", fake.url, backoff=0))
    assert text(chunks) == "second try"
    assert len(fake.chat_requests()) == 2


async def test_gives_up_after_its_retries(fake: FakeOpenAI) -> None:
    fake.script(*[Reply(refuse=True)] * 3)
    with pytest.raises(BackendError) as caught:
        await collect(OpenAIBackend("b", fake.url, retries=2, backoff=0))
    assert caught.value.status == 502 and not caught.value.partial
    assert "after 3 attempts" in caught.value.detail
    assert len(fake.chat_requests()) == 3


async def test_an_unreachable_server_is_a_clear_error() -> None:
    backend = OpenAIBackend("local", f"http://127.0.0.1:{free_port()}/v1", retries=1, backoff=0)
    with pytest.raises(BackendError) as caught:
        await collect(backend)
    assert "'local'" in caught.value.detail and "unreachable" in caught.value.detail
    assert not caught.value.partial


async def test_a_slow_first_byte_times_out(fake: FakeOpenAI) -> None:
    fake.script(Reply(first_delay=30))
    with pytest.raises(BackendError) as caught:
        await collect(OpenAIBackend("b", fake.url, timeout=0.3))
    assert caught.value.status == 504 and not caught.value.partial
    assert len(fake.chat_requests()) == 1  # a slow reply is not asked for twice


async def test_a_stall_mid_reply_times_out_as_partial(fake: FakeOpenAI) -> None:
    gate = threading.Event()
    fake.script(Reply(pieces=["one ", "two"], hold_after=1, gate=gate))
    seen: list[str] = []
    try:
        with pytest.raises(BackendError) as caught:
            async for chunk in OpenAIBackend("b", fake.url, timeout=0.3).stream(HELLO):
                seen.append(chunk.text)
    finally:
        gate.set()
    assert "".join(seen) == "one "
    assert caught.value.status == 504 and caught.value.partial


async def test_a_reply_broken_off_is_partial(fake: FakeOpenAI) -> None:
    fake.script(Reply(pieces=["a", "b", "c"], drop_after=2))
    seen: list[str] = []
    with pytest.raises(BackendError) as caught:
        async for chunk in OpenAIBackend("b", fake.url).stream(HELLO):
            seen.append(chunk.text)
    assert "".join(seen) == "ab"
    assert caught.value.partial and caught.value.status == 502


async def test_an_error_event_mid_reply_is_partial(fake: FakeOpenAI) -> None:
    fake.script(Reply(pieces=["a", "b"], error_after=1, error="model overloaded"))
    with pytest.raises(BackendError) as caught:
        await collect(OpenAIBackend("b", fake.url))
    assert caught.value.partial and "model overloaded" in caught.value.detail


@pytest.mark.parametrize(
    ("upstream", "status"), [(400, 400), (404, 404), (422, 422), (429, 503), (500, 502), (503, 503)]
)
async def test_upstream_statuses(fake: FakeOpenAI, upstream: int, status: int) -> None:
    fake.script(Reply(status=upstream, error="upstream says no"))
    with pytest.raises(BackendError) as caught:
        await collect(OpenAIBackend("b", fake.url))
    assert caught.value.status == status and not caught.value.partial
    assert f"answered {upstream}: upstream says no" in caught.value.detail


async def test_a_rejected_key_is_never_repeated(fake: FakeOpenAI) -> None:
    key = "sk-very-secret-0123456789"
    fake.script(Reply(status=401, error=f"Incorrect API key provided: {key}"))
    with pytest.raises(BackendError) as caught:
        await collect(OpenAIBackend("b", fake.url, api_key=key))
    assert caught.value.status == 502
    assert key not in caught.value.detail and "check the API key" in caught.value.detail


async def test_asks_again_without_stream_options_when_refused(fake: FakeOpenAI) -> None:
    fake.script(
        Reply(status=400, error="Unrecognized request argument supplied: stream_options"),
        Reply(text="fine"),
    )
    backend = OpenAIBackend("b", fake.url)
    assert text(await collect(backend)) == "fine"
    first, second = fake.chat_requests()
    assert "stream_options" in first.body and "stream_options" not in second.body
    await collect(backend)
    assert "stream_options" not in fake.chat_requests()[2].body


async def test_why_the_last_listing_failed_is_kept_until_one_succeeds(fake: FakeOpenAI) -> None:
    backend = OpenAIBackend("b", f"http://127.0.0.1:{free_port()}/v1", models_ttl=0)
    assert await backend.models() == []
    assert backend.discovery_error is not None
    assert "could not connect" in backend.discovery_error
    backend.base_url = fake.url.rstrip("/")  # the server came up there
    backend.close()
    assert await backend.models() == ["fake-model", "other-model"]
    assert backend.discovery_error is None


async def test_models_are_listed_by_the_server_once(fake: FakeOpenAI) -> None:
    backend = OpenAIBackend("b", fake.url)
    assert await backend.models() == ["fake-model", "other-model"]
    assert await backend.models() == ["fake-model", "other-model"]
    listed = [r for r in fake.requests if r.path.endswith("/models")]
    assert len(listed) == 1
    assert not backend.accepts_any_model


async def test_a_burst_of_first_callers_shares_one_listing(fake: FakeOpenAI) -> None:
    backend = OpenAIBackend("b", fake.url)
    answers = await asyncio.gather(*(backend.models() for _ in range(20)))
    assert answers == [["fake-model", "other-model"]] * 20
    listed = [r for r in fake.requests if r.path.endswith("/models")]
    assert len(listed) == 1


async def test_a_caller_that_leaves_does_not_end_the_listing_for_the_others(
    fake: FakeOpenAI,
) -> None:
    backend = OpenAIBackend("b", fake.url)
    leaving = asyncio.ensure_future(backend.models())
    staying = asyncio.ensure_future(backend.models())
    await asyncio.sleep(0)
    leaving.cancel()
    assert await staying == ["fake-model", "other-model"]
    assert leaving.cancelled()


async def test_configured_models_win_and_may_be_globs(fake: FakeOpenAI) -> None:
    backend = OpenAIBackend("b", fake.url, models=["gpt-4o", "llama3*"])
    assert await backend.models() == ["gpt-4o"]
    assert backend.serves("llama3:8b") and backend.serves("gpt-4o")
    assert not backend.serves("gpt-4")
    assert not [r for r in fake.requests if r.path.endswith("/models")]


async def test_a_server_that_lists_nothing_accepts_any_model() -> None:
    with FakeOpenAI(models=()) as empty:
        backend = OpenAIBackend("b", empty.url)
        assert await backend.models() == []
        assert backend.accepts_any_model
        assert backend.serves("anything") is None


async def test_behind_a_proxy_the_client_stack_sends_the_same_request(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # transport_for picks httpx's own transport when a proxy is configured; the backend
    # then sends through the whole httpx client instead of straight to its pool
    import httpx

    from parley.chat.backends import openai

    monkeypatch.setattr(openai, "transport_for", lambda *_, **__: httpx.AsyncHTTPTransport())
    fake.script(Reply(pieces=["via ", "httpx"]))
    backend = OpenAIBackend("b", fake.url, api_key="sk-secret")
    assert text(await collect(backend)) == "via httpx"
    assert backend._pool is None
    (sent,) = fake.chat_requests()
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-secret"
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.body["stream"] is True
    await backend.aclose()


async def test_on_its_own_pool_the_request_skips_the_client_stack(fake: FakeOpenAI) -> None:
    fake.script(Reply(pieces=["direct"]))
    backend = OpenAIBackend("b", fake.url, api_key="sk-secret", headers={"x-team": "a"})
    assert text(await collect(backend)) == "direct"
    assert backend._pool is not None
    (sent,) = fake.chat_requests()
    assert sent.headers["host"] == fake.url.split("//")[1].split("/")[0]
    assert sent.headers["x-team"] == "a" and sent.headers["accept-encoding"] == "identity"
    assert sent.headers["content-type"] == "application/json"
    await backend.aclose()


async def test_a_compressed_stream_is_decoded_although_identity_was_asked() -> None:
    # a server that ignores Accept-Encoding: identity; the backend's fast path (the pool's
    # raw body) must step aside for httpx's decoders
    import gzip

    events = b"".join(
        b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}) + b"\n\n"
        for piece in ("zip", "ped")
    )
    body = gzip.compress(events + b"data: [DONE]\n\n")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
            b"content-length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = OpenAIBackend("b", f"http://127.0.0.1:{port}/v1", retries=0)
    try:
        assert text(await collect(backend)) == "zipped"
    finally:
        await backend.aclose()
        server.close()
