"""The agent's side of the local LLM: a small streaming client for OpenAI-compatible servers.

Contracts:

* :func:`base_url` takes what the user typed: a URL with a path is used as the API base
  (``http://127.0.0.1:8000/v1``), a bare ``http://host:port`` gets ``/v1`` appended;
* :func:`stream_chat` POSTs ``/chat/completions`` with ``stream: true`` and yields one
  :class:`Delta` per server-sent event that carries text, then a final one with the
  ``finish_reason`` (``"stop"`` when the server sent none), the ``usage`` and the
  ``model`` the server reported. A server that ignores ``stream`` and answers one JSON
  object works too;
* any failure (connection refused, HTTP >= 400, an ``error`` event, a stream cut before
  its end) raises :class:`UpstreamError` with a message that never contains the API key.

HTTP goes through :mod:`parley.agents.http1` (one :class:`~parley.agents.http1.Client`
per agent, so connections are kept alive between requests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from parley.agents.http1 import Client, HTTPError, Response

MAX_ERROR_BODY = 1024**2


class UpstreamError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Delta:
    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    final: bool = False


def base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL (for example http://127.0.0.1:8000/v1)")
    return url if parts.path else url + "/v1"


def headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def client(base: str, *, connections: int) -> Client:
    """An HTTP client for the backend at ``base`` keeping up to ``connections`` alive."""
    return Client(base, max_idle=connections)


async def list_models(http: Client, api_key: str | None) -> list[str]:
    """The ids ``GET /models`` lists."""
    where = f"{http.host}:{http.port}{http.prefix}/models"
    try:
        async with http.request("GET", "/models", headers=headers(api_key)) as response:
            body = await response.read(MAX_ERROR_BODY)
    except HTTPError as error:
        raise UpstreamError(f"cannot reach the local backend at {where}: {error}") from None
    if response.status >= 400:
        raise UpstreamError(_status_message(response.status, body))
    try:
        data = orjson.loads(body).get("data", [])
        return [item["id"] for item in data if isinstance(item.get("id"), str)]
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        raise UpstreamError(f"{where} did not answer an OpenAI model list") from None


async def stream_chat(
    http: Client,
    api_key: str | None,
    *,
    model: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
) -> AsyncIterator[Delta]:
    body = orjson.dumps({**params, "model": model, "messages": messages, "stream": True})
    sent = {
        **headers(api_key),
        "Content-Type": "application/json",
        "Accept": "text/event-stream, application/json",
    }
    try:
        async with http.request("POST", "/chat/completions", body=body, headers=sent) as response:
            if response.status >= 400:
                raise UpstreamError(
                    _status_message(response.status, await response.read(MAX_ERROR_BODY))
                )
            if "text/event-stream" not in response.headers.get("content-type", ""):
                yield _whole(await response.read())
                return
            async for delta in _events(response):
                yield delta
    except HTTPError as error:
        raise UpstreamError(f"the local backend failed: {error}") from None


async def _events(response: Response) -> AsyncIterator[Delta]:
    finish: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    ended = False
    async for line in response.lines():  # read to the end: the connection is reused
        if ended or not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            ended = True
            yield Delta(finish_reason=finish or "stop", usage=usage, model=model, final=True)
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                f"the local backend sent an invalid event: {data[:200]!r}"
            ) from None
        if not isinstance(event, dict):
            continue
        if event.get("error"):
            raise UpstreamError(f"the local backend reported an error: {_error_text(event)}")
        model = event.get("model") or model
        usage = event.get("usage") or usage
        choices = event.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        finish = choice.get("finish_reason") or finish
        text = (choice.get("delta") or {}).get("content")
        if isinstance(text, str) and text:
            yield Delta(text=text)
    if not ended:
        if finish is None:
            raise UpstreamError("the local backend closed the stream before the reply ended")
        yield Delta(finish_reason=finish, usage=usage, model=model, final=True)


def _whole(raw: bytes) -> Delta:
    try:
        event = orjson.loads(raw)
        choice = event["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        raise UpstreamError(
            "the local backend answered something other than a completion"
        ) from None
    return Delta(
        text=text,
        finish_reason=choice.get("finish_reason") or "stop",
        usage=event.get("usage"),
        model=event.get("model"),
        final=True,
    )


def _error_text(event: dict[str, Any]) -> str:
    error = event.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    return str(error)[:500]


def _status_message(status: int, body: bytes) -> str:
    detail = body[:500].decode(errors="replace")
    try:
        decoded = orjson.loads(body)
        if isinstance(decoded, dict):
            detail = _error_text(decoded) if "error" in decoded else detail
    except orjson.JSONDecodeError:
        pass
    return f"the local backend answered HTTP {status}: {detail}"
