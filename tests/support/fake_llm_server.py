"""A fake OpenAI-compatible server that really listens on 127.0.0.1 (uvicorn, own thread).

``GET /v1/models`` lists ``models``; ``POST /v1/chat/completions`` answers the
:class:`Reply` scripted for the last message's text (:meth:`FakeLLM.script`), else an
echo (``"echo: "`` then the prompt). Replies stream as server-sent events when the request
asks for ``stream`` (and when :attr:`Reply.stream` allows), else one JSON body; they may
be slow (``delay`` between chunks), cut by the length limit (``finish_reason="length"``),
fail (``status`` >= 400), or stop after ``hold_after`` chunks until a ``hold`` event is
set. Every request body is kept in :attr:`FakeLLM.requests`; :meth:`FakeLLM.started`
and :meth:`FakeLLM.disconnected` are set when a reply to a prompt starts, and when its
client goes away before the reply ended.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    chunks: list[str] = field(default_factory=lambda: ["Hello", " world"])
    finish_reason: str = "stop"
    status: int = 200
    delay: float = 0.0
    hold: threading.Event | None = None
    hold_after: int = 1
    stream: bool = True
    usage: dict[str, int] | None = None


def prompt_of(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    return content if isinstance(content, str) else orjson.dumps(content).decode()


class FakeLLM:
    def __init__(self, models: tuple[str, ...] = ("fake-model",), api_key: str | None = None):
        self.models = models
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self._replies: dict[str, Reply] = {}
        self._started: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._gone: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()
        self.url = ""

    def script(self, prompt: str, reply: Reply) -> None:
        self._replies[prompt] = reply

    def started(self, prompt: str) -> threading.Event:
        with self._lock:
            return self._started[prompt]

    def disconnected(self, prompt: str) -> threading.Event:
        with self._lock:
            return self._gone[prompt]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/chat/completions", self._complete, methods=["POST"]),
            ]
        )

    def _denied(self, request: Request) -> Response | None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": {"message": "bad api key"}}, status_code=401)
        return None

    async def _models(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        return JSONResponse({"object": "list", "data": [{"id": m} for m in self.models]})

    async def _complete(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        body = orjson.loads(await request.body())
        self.requests.append(body)
        prompt = prompt_of(body)
        reply = self._replies.get(prompt) or Reply(chunks=["echo: ", prompt])
        if reply.status >= 400:
            error = {"error": {"message": f"scripted failure {reply.status}"}}
            return JSONResponse(error, status_code=reply.status)
        model = body.get("model", "fake-model")
        usage = reply.usage or {"prompt_tokens": 3, "completion_tokens": len(reply.chunks)}
        if not (body.get("stream") and reply.stream):
            self.started(prompt).set()
            message = {"role": "assistant", "content": "".join(reply.chunks)}
            choice = {"index": 0, "message": message, "finish_reason": reply.finish_reason}
            return JSONResponse({"model": model, "choices": [choice], "usage": usage})
        return StreamingResponse(
            self._events(prompt, reply, model, usage), media_type="text/event-stream"
        )

    async def _events(
        self, prompt: str, reply: Reply, model: str, usage: dict[str, int]
    ) -> AsyncIterator[bytes]:
        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return b"data: " + orjson.dumps({"model": model, "choices": [choice]}) + b"\n\n"

        ended = False
        self.started(prompt).set()
        try:
            yield event({"role": "assistant"})
            for index, text in enumerate(reply.chunks):
                if reply.hold is not None and index == reply.hold_after:
                    while not reply.hold.is_set():  # a fake's wait: poll the test's event
                        await asyncio.sleep(0.005)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                yield event({"content": text})
            yield event({}, reply.finish_reason)
            tail = {"model": model, "choices": [], "usage": usage}
            yield b"data: " + orjson.dumps(tail) + b"\n\ndata: [DONE]\n\n"
            ended = True
        finally:
            if not ended:
                self.disconnected(prompt).set()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free port of 127.0.0.1 in a thread; yields ``http://host:port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="auto", ws_ping_interval=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@contextmanager
def running(fake: FakeLLM) -> Iterator[FakeLLM]:
    with serve(fake.app()) as url:
        fake.url = url + "/v1"
        yield fake
