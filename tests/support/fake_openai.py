"""A fake OpenAI-compatible server that really listens on 127.0.0.1 (tests and benchmarks).

A small HTTP/1.1 server on asyncio streams (keep-alive, chunked server-sent events), run
on its own event loop in a background thread, or in its own process with
``python -m tests.support.fake_openai --port N`` (the benchmark does that). It serves:

* ``POST /v1/chat/completions``: the next scripted :class:`Reply` (``script(...)``), else
  the default one (a :class:`Reply`, or a function of the request body returning one;
  by default it echoes the last user message). Streams when the body says
  ``"stream": true`` (a usage event too with ``stream_options.include_usage``);
* ``GET /v1/models``: ``{"object": "list", "data": [{"id": ...}]}`` for ``models``.

A :class:`Reply` can be cut by the length limit (``finish_reason="length"``), be an HTTP
error (``status``), come slowly (``first_delay``, ``delay``; with ``batched``, every piece
after the first delay waits for the next multiple of ``delay`` on the monotonic clock, as a
server decoding all its requests in one batch sends each a token per step), break off mid-reply
(``drop_after``: the connection is aborted after that many pieces), stop mid-reply until
released (``hold_after`` + ``gate``), send an error event mid-reply (``error_after``),
answer one JSON body although asked to stream (``plain``), close the connection after
answering (``close``), or never answer (``refuse``: the connection is closed before any
byte, a connection error). Every request is logged (:attr:`requests`), connections are
counted (:attr:`connections`);
:meth:`FakeOpenAI.wait_for` waits, with a deadline, until some number have arrived.

With ``timings`` set to a dict (``--timings`` on the command line), every streamed reply
records, under its last user message's text, when the fake had read the request, began
to write the first text and began to write the end (``time.monotonic()``, a clock every
process of the machine shares); ``GET /fake/timings`` answers them as ``{text: [read,
first, end]}`` and forgets them. The benchmark subtracts the fake's own part of each
request with them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Reply:
    text: str = "Hello from the fake backend."
    pieces: list[str] | None = None  # how the text streams; default: word by word
    finish_reason: str = "stop"
    status: int = 200
    error: str = "the fake backend was told to fail"
    first_delay: float = 0.0
    batched: bool = False  # pieces on the shared steps of ``delay`` (see the module docstring)
    delay: float = 0.0
    drop_after: int | None = None
    hold_after: int | None = None
    gate: threading.Event | None = None
    refuse: bool = False
    model: str | None = None
    plain: bool = False  # answer with one JSON body even when asked to stream
    error_after: int | None = None  # an {"error": ...} event after this many pieces
    close: bool = False  # close the connection after answering

    def parts(self) -> list[str]:
        if self.pieces is not None:
            return list(self.pieces)
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    read_at: float = 0.0  # time.monotonic() when the whole request had been read

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])


def _last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return str(users[-1].get("content") or "") if users else ""


def echo(body: dict[str, Any]) -> Reply:
    return Reply(text=f"You said: {_last_user_text(body)}")


@dataclass
class FakeOpenAI:
    models: tuple[str, ...] = ("fake-model",)
    default: Reply | Callable[[dict[str, Any]], Reply] = echo
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    timings: dict[str, tuple[float, float, float]] | None = None

    def __post_init__(self) -> None:
        self.connections = 0  # connections accepted so far
        self._queue: deque[Reply] = deque()
        self._lock = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- control, from the test's thread ----------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def chat_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        """Wait until ``count`` chat requests arrived (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.chat_requests()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} chat requests, got {len(self.chat_requests())}"
                    )
                self._lock.wait(left)
            return self.chat_requests()

    def start(self) -> FakeOpenAI:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._listen())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake OpenAI server did not start")
        return self

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the server, on its own loop --------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                request.read_at = time.monotonic()
                with self._lock:
                    self.requests.append(request)
                    self._lock.notify_all()
                if not await self._answer(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.default(body) if callable(self.default) else self.default

    async def _answer(self, request: Recorded, writer: asyncio.StreamWriter) -> bool:
        """Write one response; False when the connection must close."""
        if request.method == "GET" and request.path.rstrip("/").endswith("/models"):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models
            ]
            _write(writer, 200, orjson.dumps({"object": "list", "data": data}))
            await writer.drain()
            return True
        if request.method == "GET" and request.path == "/fake/timings":
            if self.timings is None:
                _write(writer, 404, orjson.dumps({"error": {"message": "timings are off"}}))
            else:
                _write(writer, 200, orjson.dumps(self.timings))
                self.timings = {}
            await writer.drain()
            return True
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            _write(writer, 404, orjson.dumps({"error": {"message": "no such route"}}))
            await writer.drain()
            return True
        body = request.body if isinstance(request.body, dict) else {}
        reply = self._next_reply(body)
        if reply.refuse:
            return False
        if reply.first_delay:
            await asyncio.sleep(reply.first_delay)
        if reply.batched and reply.delay:
            await _next_step(reply.delay)
        if reply.status >= 400:
            error = {"error": {"message": reply.error, "type": "fake_error", "code": reply.status}}
            _write(writer, reply.status, orjson.dumps(error))
            await writer.drain()
            return True
        model = reply.model or str(body.get("model") or self.models[0])
        usage = _usage(body, reply)
        if not body.get("stream") or reply.plain:
            completion = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(reply.parts())},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": usage,
            }
            _write(writer, 200, orjson.dumps(completion))
            await writer.drain()
            return not reply.close
        stamps = await self._stream(writer, reply, model, body, usage)
        if stamps is None:
            return False
        if self.timings is not None:
            self.timings[_last_user_text(body)] = (request.read_at, *stamps)
        return not reply.close

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        reply: Reply,
        model: str,
        body: dict[str, Any],
        usage: dict[str, int],
    ) -> tuple[float, float] | None:
        """Stream ``reply``; when the fake began to write its first text and its end, or None
        if the connection must close."""
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n"
        )
        head = (
            b'data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","created":0,"model":'
            + orjson.dumps(model)
        )
        _chunk(
            writer,
            head
            + b',"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n',
        )
        first_text = end = 0.0
        for index, piece in enumerate(reply.parts()):
            if reply.drop_after is not None and index >= reply.drop_after:
                await writer.drain()
                return None  # aborted mid-reply: the chunked body never ends
            if (
                reply.hold_after is not None
                and index == reply.hold_after
                and reply.gate is not None
            ):
                await writer.drain()
                gate = reply.gate
                await asyncio.get_running_loop().run_in_executor(None, gate.wait, 30)
            if reply.delay and index:
                await writer.drain()
                await (_next_step(reply.delay) if reply.batched else asyncio.sleep(reply.delay))
            if reply.error_after is not None and index == reply.error_after:
                end = time.monotonic()
                error = {"error": {"message": reply.error, "type": "fake_error"}}
                _chunk(writer, b"data: " + orjson.dumps(error) + b"\n\n")
                _chunk(writer, b"data: [DONE]\n\n")
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                return first_text, end
            first_text = first_text or time.monotonic()
            _chunk(
                writer,
                head
                + b',"choices":[{"index":0,"delta":{"content":'
                + orjson.dumps(piece)
                + b'},"finish_reason":null}]}\n\n',
            )
        if reply.drop_after is not None and reply.drop_after >= len(reply.parts()):
            await writer.drain()
            return None
        finish = orjson.dumps(reply.finish_reason)
        end = time.monotonic()
        _chunk(
            writer,
            head + b',"choices":[{"index":0,"delta":{},"finish_reason":' + finish + b"}]}\n\n",
        )
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            _chunk(writer, head + b',"choices":[],"usage":' + orjson.dumps(usage) + b"}\n\n")
        _chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return first_text, end


async def _next_step(step: float) -> None:
    """Sleep until the next multiple of ``step`` seconds on the monotonic clock."""
    now = time.monotonic()
    await asyncio.sleep(step - now % step)


def _usage(body: dict[str, Any], reply: Reply) -> dict[str, int]:
    prompt = sum(
        len(str(m.get("content", "")).split())
        for m in body.get("messages", [])
        if isinstance(m, dict)
    )
    completion = len(reply.parts())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _read_request(reader: asyncio.StreamReader) -> Recorded | None:
    line = await reader.readline()
    if not line:
        return None
    method, path, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    data = await reader.readexactly(length) if length else b""
    body: Any = None
    if data:
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            body = data.decode("utf-8", "replace")
    return Recorded(method, path, headers, body)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _write(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    reason = _REASONS.get(status, "Status")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )


def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(b"%x\r\n%b\r\n" % (len(data), data))


def main() -> None:
    """Run the fake server in the foreground: for benchmarks (prints the port when ready)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pieces", type=int, default=20, help="Pieces per streamed reply.")
    parser.add_argument("--first-delay", type=float, default=0.0, help="Seconds before the reply.")
    parser.add_argument("--delay", type=float, default=0.0, help="Seconds between pieces.")
    parser.add_argument("--paced-model", default="paced", help="The model that gets the delays.")
    parser.add_argument(
        "--instant-model", default="instant", help="The model that answers at once."
    )
    parser.add_argument(
        "--batched-model",
        default="batched",
        help="The model paced like 'paced', its pieces on shared steps (a batching server).",
    )
    parser.add_argument(
        "--timings",
        action="store_true",
        help="Record streamed replies' timings (GET /fake/timings).",
    )
    args = parser.parse_args()
    pieces = [f"tok{i} " for i in range(args.pieces)]
    paced = Reply(pieces=pieces, first_delay=args.first_delay, delay=args.delay)
    batched = Reply(pieces=pieces, first_delay=args.first_delay, delay=args.delay, batched=True)
    instant = Reply(pieces=pieces)
    replies = {args.instant_model: instant, args.batched_model: batched}

    def choose(body: dict[str, Any]) -> Reply:
        return replies.get(str(body.get("model")), paced)

    fake = FakeOpenAI(
        models=(args.paced_model, args.instant_model, args.batched_model),
        default=choose,
        port=args.port,
        timings={} if args.timings else None,
    )

    async def serve() -> None:
        await fake._listen()
        print(fake.port, flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    fake.requests = _Discard()  # a benchmark sends far too many requests to keep them
    asyncio.run(serve())


class _Discard(list[Recorded]):
    def append(self, _item: Recorded) -> None:
        pass


if __name__ == "__main__":
    main()
