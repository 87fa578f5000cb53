"""An OpenAI-compatible HTTP backend (OpenAI, vLLM, Ollama, llama.cpp, LiteLLM ...).

``base_url`` is the API root including its version, as the ``openai`` client takes it
(``https://api.openai.com/v1``, ``http://127.0.0.1:11434/v1``); requests go to
``{base_url}/chat/completions`` and ``{base_url}/models``.

Contract:

* one ``httpx.AsyncClient`` (one connection pool) per backend and event loop, reused by
  every request; a client made on another loop (tests, the CLI) is replaced, not shared;
* :meth:`stream` always asks for ``stream: true`` and yields a :class:`Chunk` per
  server-sent event that carries text, a finish reason or usage; a server that answers
  with one JSON body instead is read as one chunk;
* failures to connect before any byte of the reply arrived (refused, reset, connect
  timeout, a pooled connection the server had closed) are retried ``retries`` times with
  exponential backoff; nothing else is retried on this backend (a slow reply is not asked
  twice; the router may try the next backend);
* every failure raises :class:`BackendError` (``partial`` once text was yielded): a
  timeout is 504; an upstream 400/404/413/422 (the request's fault) keeps its status;
  bad credentials, rate limits and server errors are 502 (503 for an upstream 429/503);
  the detail names the backend and repeats the server's message, never the API key;
* :meth:`models` is the configured list, else ``GET {base_url}/models`` cached for
  ``models_ttl`` seconds (failures for a tenth of that), one request at a time however
  many callers wait for it; when neither names a model the backend :attr:`accepts_any_model`.
  Why the last listing failed is :attr:`discovery_error` (None after a success), and is
  logged on the ``parley.chat.discovery`` logger.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import orjson

from parley.chat.backends.base import BackendError, ChatRequest, Chunk
from parley.chat.backends.pool import Pool, PoolBody, transport_for

log = logging.getLogger("parley.chat")
discovery_log = logging.getLogger("parley.chat.discovery")

_CONNECT_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)
_KEEP_STATUS = frozenset({400, 404, 413, 422})
_BUSY_STATUS = frozenset({429, 503})
GLOB_CHARACTERS = frozenset("*?[")


class OpenAIBackend:
    """Streams chat completions from one OpenAI-compatible server (see the module contract)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        api_key: str | None = None,
        models: Sequence[str] = (),
        headers: dict[str, str] | None = None,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.1,
        models_ttl: float = 300.0,
        stream_usage: bool = True,
        max_connections: int = 1000,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.configured_models = tuple(models)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.models_ttl = models_ttl
        self.stream_usage = stream_usage
        # identity: a compressed stream would hold tokens back until a block fills
        self._headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",
            **(headers or {}),
        }
        self._secret = api_key
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None
        self._pool: Pool | None = None  # the client's transport, when it is Parley's own
        self._loop: asyncio.AbstractEventLoop | None = None
        self._completions = httpx.URL(f"{self.base_url}/chat/completions")
        self._discovered: list[str] | None = None
        self._discovered_at = 0.0
        self._discovering: asyncio.Future[list[str]] | None = None
        self.discovery_error: str | None = None

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.name!r}, {self.base_url!r})"

    # --- models ---------------------------------------------------------------------------

    @property
    def accepts_any_model(self) -> bool:
        """True when neither the configuration nor the server named any model."""
        return not self.configured_models and not self._discovered

    def serves(self, model: str) -> bool | None:
        """Whether a configured entry (exact or glob) names ``model``; None if none is set."""
        if not self.configured_models:
            return None
        from fnmatch import fnmatchcase

        return any(
            model == entry or (GLOB_CHARACTERS & set(entry) and fnmatchcase(model, entry))
            for entry in self.configured_models
        )

    async def models(self) -> list[str]:
        if self.configured_models:
            return [m for m in self.configured_models if not GLOB_CHARACTERS & set(m)]
        if self._discovered is not None:
            ttl = self.models_ttl if self._discovered else self.models_ttl / 10
            if time.monotonic() - self._discovered_at < ttl:
                return list(self._discovered)
        task = self._discovering
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            task = self._discovering = asyncio.ensure_future(self._discover())
        return list(await asyncio.shield(task))  # one caller leaving does not end it

    async def _discover(self) -> list[str]:
        """``GET /models`` once for every caller waiting (a burst of first requests)."""
        found: list[str] = []
        failure: str | None = None
        try:
            response = await self._http().get("/models", timeout=self.connect_timeout + 5)
            if response.status_code == 200:
                data = orjson.loads(response.content).get("data") or []
                found = [
                    str(item["id"]) for item in data if isinstance(item, dict) and "id" in item
                ]
            else:
                failure = f"GET {self.base_url}/models answered HTTP {response.status_code}"
        except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError) as error:
            failure = _describe(error) if isinstance(error, httpx.HTTPError) else str(error)
        if failure is not None:
            discovery_log.warning("backend %s: could not list models: %s", self.name, failure)
        self.discovery_error = failure
        self._discovered, self._discovered_at = found, time.monotonic()
        return found

    # --- chat -----------------------------------------------------------------------------

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {**request.extra, "model": request.model}
        body["messages"] = request.messages
        body["stream"] = True
        if self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream_options", None)
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        response = await self._open(request)
        sent = False
        try:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                chunk = self._whole(await response.aread())
                yield chunk
                return
            reader = _EventReader(self.name)
            async for raw in _body(response):
                if reader.done:
                    continue  # read to the end, so that the connection goes back to the pool
                out, failure = reader.feed(raw)
                if out is not None:  # the events that arrived together, as one chunk
                    sent = sent or bool(out.text)
                    yield out
                if failure is not None:
                    raise BackendError(
                        f"backend {self.name!r} failed mid-reply: {failure}", partial=sent
                    )
        except httpx.TimeoutException:
            raise BackendError(
                f"backend {self.name!r} sent nothing for {self.timeout:g} s; gave up",
                partial=sent,
                status=504,
            ) from None
        except httpx.HTTPError as error:
            raise BackendError(
                f"backend {self.name!r} broke off the reply: {_describe(error)}", partial=sent
            ) from None
        finally:
            await response.aclose()

    async def _open(self, request: ChatRequest) -> httpx.Response:
        client = self._http()
        attempt = 0
        while True:
            content = orjson.dumps(self.payload(request))
            try:
                response = await self._post(client, content)
            except _CONNECT_ERRORS as error:
                if attempt >= self.retries:
                    raise BackendError(
                        f"backend {self.name!r} at {self.base_url} is unreachable after "
                        f"{attempt + 1} attempts: {_describe(error)}"
                    ) from None
                await asyncio.sleep(self.backoff * 2**attempt)
                attempt += 1
                continue
            except httpx.TimeoutException:
                raise BackendError(
                    f"backend {self.name!r} did not answer within {self.timeout:g} s", status=504
                ) from None
            except httpx.HTTPError as error:
                raise BackendError(f"backend {self.name!r} failed: {_describe(error)}") from None
            if response.status_code < 400:
                return response
            body = await response.aread()
            await response.aclose()
            if (
                self.stream_usage
                and response.status_code in (400, 422)
                and b"stream_options" in body
            ):
                self.stream_usage = False  # an older server: ask again without usage
                continue
            raise _status_error(self.name, response.status_code, body, secret=self._secret)

    async def _post(self, client: httpx.AsyncClient, content: bytes) -> httpx.Response:
        """POST ``content`` to the completions URL, streamed. On Parley's own pool the
        request goes straight to it: the client's URL merging, cookie jar, auth and
        redirect layers cost more per request than the pool itself, and this backend uses
        none of them (its URL and headers are fixed; the timeouts are read each time)."""
        if self._pool is None:
            return await client.send(
                client.build_request("POST", self._completions, content=content), stream=True
            )
        request = httpx.Request(
            "POST",
            self._completions,
            headers=self._headers,
            content=content,
            extensions={"timeout": self._timeouts()},
        )
        return await self._pool.handle_async_request(request)

    def _timeouts(self) -> dict[str, float | None]:
        """What the client's ``Timeout`` would hand its transport (read at each request)."""
        timeouts: dict[str, float | None] = httpx.Timeout(
            self.timeout, connect=self.connect_timeout
        ).as_dict()
        return timeouts

    def _whole(self, body: bytes) -> Chunk:
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BackendError(f"backend {self.name!r} answered with something not JSON") from None
        if not isinstance(event, dict):
            raise BackendError(f"backend {self.name!r} answered with an unexpected body")
        if event.get("error"):
            raise BackendError(f"backend {self.name!r} failed: {_message(event)}")
        chunk = _chunk(event, event.get("model"))
        return chunk or Chunk(finish_reason="stop", model=event.get("model"))

    # --- the connection pool --------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            transport = transport_for(self.base_url, max_idle=self._max_connections, keepalive=30.0)
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                transport=transport,
            )
            self._pool = transport if isinstance(transport, Pool) else None
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the pool if it belongs to the running loop (else just forget it)."""
        client, self._client, self._pool = self._client, None, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()
        self._loop = None

    def close(self) -> None:
        """Forget the pool (from synchronous code: its connections close with their loop)."""
        self._client, self._pool, self._loop = None, None, None


def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The response body as it arrives: straight from Parley's pool when nothing needs
    decoding (the backend asks for ``identity``), through httpx's decoders otherwise."""
    if isinstance(response.stream, PoolBody) and response.headers.get(
        "content-encoding", "identity"
    ).lower() in ("", "identity"):
        return response.stream.__aiter__()
    return response.aiter_bytes()


class _EventReader:
    """Server-sent events in, chunks out: the events one read brought become one chunk.

    Events that arrive together are joined (their text concatenated, the last finish
    reason, model and usage kept), so a burst costs one trip through the layers above
    while a paced stream still yields each event as it comes. ``[DONE]`` sets ``done``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = False
        self.model: str | None = None
        self._pending = b""  # an unfinished line
        self._event = b""  # data lines of an event spread over several

    def feed(self, raw: bytes) -> tuple[Chunk | None, str | None]:
        """(the chunk these bytes complete, or None; an error event's message, or None)."""
        *lines, self._pending = (self._pending + raw).split(b"\n")
        texts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] | None = None
        failure: str | None = None
        for line in lines:
            if not line.startswith(b"data:"):
                if self._event and not line.strip():
                    raise BackendError(f"backend {self.name!r} sent an unreadable event")
                continue  # blank lines, comments, event names, ids
            data = line[5:].strip()
            self._event = self._event + b"\n" + data if self._event else data
            if self._event == b"[DONE]":
                self.done = True
                break
            try:
                parsed = orjson.loads(self._event)
            except orjson.JSONDecodeError:
                continue  # an event spread over several data lines
            self._event = b""
            if not isinstance(parsed, dict):
                continue
            if parsed.get("error"):
                failure = _message(parsed)
                break
            self.model = parsed.get("model") or self.model
            piece = _chunk(parsed, self.model)
            if piece is not None:
                texts.append(piece.text)
                finish = piece.finish_reason or finish
                usage = piece.usage or usage
        if not texts:
            return None, failure
        text = texts[0] if len(texts) == 1 else "".join(texts)
        return Chunk(text=text, finish_reason=finish, model=self.model, usage=usage), failure


def _chunk(event: dict[str, Any], model: str | None) -> Chunk | None:
    text = ""
    finish = None
    choices = event.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, dict):
            content = delta.get("content")
            text = content if isinstance(content, str) else ""
        elif isinstance(choice.get("text"), str):
            text = choice["text"]
        finish = choice.get("finish_reason") or None
    usage = event.get("usage")
    usage = usage if isinstance(usage, dict) and usage else None
    if not text and finish is None and usage is None:
        return None
    return Chunk(text=text, finish_reason=finish, model=model, usage=usage)


def _message(event: dict[str, Any]) -> str:
    error = event.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)[:500]
    detail = event.get("detail") or event.get("message") or error
    return str(detail)[:500]


def _status_error(name: str, status: int, body: bytes, *, secret: str | None) -> BackendError:
    try:
        event = orjson.loads(body)
        message = _message(event) if isinstance(event, dict) else str(event)[:500]
    except orjson.JSONDecodeError:
        message = body[:300].decode("utf-8", "replace").strip() or "no details"
    if status in _KEEP_STATUS:
        code = status
    elif status in _BUSY_STATUS:
        code = 503
    else:
        code = 502
    if secret:
        message = message.replace(secret, "***")
    if status in (401, 403):
        message = f"{message} (check the API key configured for this backend)"
    return BackendError(f"backend {name!r} answered {status}: {message}", status=code)


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
