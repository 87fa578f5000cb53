"""An OpenAI-compatible endpoint in front of Parley's backends, remembering every exchange.

Contract:

* ``GET /v1/models`` -> ``{"object": "list", "data": [{id, object: "model", created,
  owned_by}]}``: every model a backend (or a connected agent) lists; ``owned_by`` is the
  backend's name;
* ``POST /v1/chat/completions`` takes OpenAI's body (``model``, ``messages``, ``stream``,
  ``stream_options.include_usage``, and any other parameter, passed on upstream as is;
  ``n`` must be 1) and answers OpenAI's ``chat.completion`` object, or with
  ``"stream": true`` its ``chat.completion.chunk`` events ending with ``data: [DONE]``;
  the official ``openai`` clients work against it unchanged;
* every exchange is stored (:mod:`parley.chat.proxy`): a request extending an earlier one
  continues its conversation, one that diverges branches it. ``X-Parley-Conversation-Id``
  names the conversation (and, when known before streaming, ``X-Parley-Message-Id`` the
  answer's node);
* authentication is a Parley token (the client's ``api_key``); errors are
  ``{"detail": ...}`` with their status (the ``openai`` client raises the matching
  ``APIStatusError``); a failed model call adds OpenAI's ``{"error": {message, type,
  code}}`` (so the client shows the message), and once streaming began it is such an
  event (the client raises ``APIError``); the exchange is stored either way;
* completions count against the ``ask`` rate limit, listing models against ``read``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from parley.chat import proxy
from parley.chat.answering import Delta, Event, Rest, Started, Turn, TurnFailed, collect, prime
from parley.errors import Unprocessable
from parley.store.users import User
from parley.web import deps
from parley.web.api.chat_rest import SSE_HEADERS, Asker, chat_engine
from parley.web.bodies import read_body
from parley.web.responses import FastJSON
from parley.web.streaming import EventStream, turn_chunks

router = APIRouter(tags=["OpenAI-compatible"])

Reader = Annotated[User, Depends(deps.caller("read"))]
Body = Annotated[dict[str, Any], Depends(read_body)]
OWN_KEYS = frozenset({"model", "messages", "stream", "stream_options", "n"})
_DONE = b"data: [DONE]\n\n"


@router.get(
    "/v1/models",
    summary="List models (OpenAI-compatible)",
    description="Every model the configured backends and connected agents serve; "
    "`owned_by` names the backend.",
)
async def list_models(request: Request, user: Reader) -> FastJSON:
    listed = await deps.runtime(request).backends.models()
    data = [
        {"id": model, "object": "model", "created": 0, "owned_by": backend}
        for model, backend in listed
    ]
    return FastJSON({"object": "list", "data": data})


@router.post(
    "/v1/chat/completions",
    summary="Chat completion (OpenAI-compatible)",
    description="OpenAI's chat completions API, streaming or not, answered by Parley's "
    "backends; every exchange is stored as a conversation (continued when a request "
    "extends an earlier one, branched when it diverges). Authenticate with a Parley token.",
)
async def chat_completions(request: Request, user: Asker, body: Body) -> Response:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise Unprocessable("'model' must be a string")
    if body.get("n", 1) not in (1, None):
        raise Unprocessable("'n' must be 1: Parley answers one choice per request")
    stream = body.get("stream") is True
    wants_usage = isinstance(body.get("stream_options"), dict) and bool(
        body["stream_options"].get("include_usage")
    )
    options = {key: value for key, value in body.items() if key not in OWN_KEYS}
    events = proxy.exchange(
        chat_engine(deps.runtime(request)),
        owner_id=user.id,
        model=model or None,
        messages=body.get("messages"),  # type: ignore[arg-type]  # validated by the proxy
        options=options,
    )
    try:
        if not stream:
            turn = await collect(events)
            headers = {
                "X-Parley-Conversation-Id": turn.conversation_id,
                "X-Parley-Message-Id": turn.node_id,
            }
            return FastJSON(completion(turn), headers=headers)
        head, rest = await prime(events)
    except TurnFailed as failed:
        return FastJSON(
            {"detail": failed.detail, "error": openai_error(failed)},
            status_code=failed.status,
            headers={"X-Parley-Conversation-Id": failed.turn.conversation_id},
        )
    started = head[0]
    assert isinstance(started, Started)
    return EventStream(
        chunks(head, rest, include_usage=wants_usage),
        headers={**SSE_HEADERS, "X-Parley-Conversation-Id": started.conversation_id},
    )


def completion(turn: Turn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"chatcmpl-{turn.node_id}",
        "object": "chat.completion",
        "created": int(turn.message.get("create_time") or time.time()),
        "model": turn.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": turn.text, "refusal": None},
                "logprobs": None,
                "finish_reason": turn.finish_reason,
            }
        ],
        "system_fingerprint": None,
    }
    if turn.usage:
        body["usage"] = turn.usage
    return body


def chunks(head: list[Event], rest: Rest, *, include_usage: bool) -> AsyncGenerator[bytes, None]:
    """OpenAI's ``chat.completion.chunk`` events for a turn's events: the role and what
    :func:`prime` pulled as one chunk, a chunk per piece of text, then the end as one."""
    started = head[0]
    assert isinstance(started, Started)
    opening = orjson.dumps(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": started.model,
            "system_fingerprint": None,
        }
    )[:-1]
    prefix = b"data: " + opening + b',"choices":[{"index":0,"delta":'
    suffix = b',"logprobs":null,"finish_reason":null}]}\n\n'

    def encoded(item: Event) -> bytes:
        if isinstance(item, Delta):
            return prefix + b'{"content":' + orjson.dumps(item.text) + b"}" + suffix
        if isinstance(item, Started):
            return prefix + b'{"role":"assistant","content":""}' + suffix
        reason = orjson.dumps(item.finish_reason)
        end = [prefix + b'{},"logprobs":null,"finish_reason":' + reason + b"}]}\n\n"]
        if include_usage:
            usage = orjson.dumps(item.usage or None)
            end.append(b"data: " + opening + b',"choices":[],"usage":' + usage + b"}\n\n")
        return b"".join([*end, _DONE])

    return turn_chunks(head, rest, encoded, failure)


def openai_error(failed: TurnFailed) -> dict[str, Any]:
    """OpenAI's error object for a failed model call (the ``openai`` client shows it)."""
    return {"message": failed.detail, "type": "backend_error", "code": failed.status}


def failure(failed: TurnFailed) -> bytes:
    return b"data: " + orjson.dumps({"error": openai_error(failed)}) + b"\n\n"
