"""The Chat GPT REST API, ask side: start a conversation, ask in one.

Contract (the seed's shapes, with its defects fixed):

* ``POST /conversations/new {prompt, title?, model?, autocontinue?}`` and
  ``POST /conversations/{id}/ask {prompt, parent_id?, model?, autocontinue?}``: JSON or
  form bodies; ``201 {"response": {...}}`` with the seed's fields (author, message,
  conversation_id, parent_id, model, finish_details, end_turn, recipient, citations) plus
  ``id`` (the answer's node id) and ``create_time``; ``parent_id`` is the prompt's node;
* ``autocontinue`` is ``true`` or ``false`` (a JSON boolean or the strings); it really
  continues an answer cut off by the length limit (see :mod:`parley.chat.answering`);
* with ``Accept: text/event-stream`` or ``"stream": true`` the answer streams as
  server-sent events: ``start`` ``{conversation_id, parent_id, id, model}``, a ``delta``
  ``{text}`` per piece, then ``done`` ``{"response": ...}`` carrying the ids, or ``error``
  ``{detail, response}`` when the model call fails after text began;
* a model call that fails before any text answers its status (502, 504; 503 with no
  backend) with ``{"detail", "response"}``: the prompt and whatever arrived are stored;
* both count against the ``ask`` rate limit; another user's conversation is a 404.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from parley.chat.answering import Delta, Event, Rest, Started, Turn, TurnFailed, collect, prime
from parley.chat.engine import ChatEngine
from parley.errors import Unprocessable
from parley.store.users import User
from parley.web import deps
from parley.web.api.rest import message_item
from parley.web.bodies import body_schema, read_body
from parley.web.responses import FastJSON
from parley.web.runtime import Runtime
from parley.web.streaming import EventStream, turn_chunks

router = APIRouter(tags=["Chat GPT REST API"])


Asker = Annotated[User, Depends(deps.caller("ask"))]
Body = Annotated[dict[str, Any], Depends(read_body)]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_STRING = {"type": "string"}
_FLAG = {"type": "string", "enum": ["true", "false"], "description": "Continue answers "
         "cut off by the length limit."}  # fmt: skip
_STREAM = {"type": "boolean", "description": "Stream server-sent events (as Accept: "
           "text/event-stream does)."}  # fmt: skip


def chat_engine(rt: Runtime) -> ChatEngine:
    """The server's one chat engine (built on first use, over the runtime's backends)."""
    engine = rt.extras.get("chat_engine")
    if not isinstance(engine, ChatEngine):
        engine = ChatEngine(
            rt.factory,
            rt.backends,
            autocontinue_rounds=rt.settings.autocontinue_rounds,
            reader=rt.reader,
        )
        rt.extras["chat_engine"] = engine
    return engine


def text_field(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise Unprocessable(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise Unprocessable(f"'{key}' must be a string")
    return value


def flag(body: dict[str, Any], key: str) -> bool:
    """A boolean given as JSON ``true``/``false`` or as the strings (forms send strings)."""
    value = body.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
        return value.strip().lower() == "true"
    raise Unprocessable(f"'{key}' must be true or false")


def wants_stream(request: Request, body: dict[str, Any]) -> bool:
    return "text/event-stream" in request.headers.get("accept", "") or flag(body, "stream")


def response_item(turn: Turn) -> dict[str, Any]:
    """The seed's ``response`` object for a stored answer, with its node ``id``."""
    return message_item(turn.conversation_id, turn.node_id, turn.parent_id, turn.message)


def failure(error: TurnFailed) -> FastJSON:
    return FastJSON(
        {"detail": error.detail, "response": response_item(error.turn)}, status_code=error.status
    )


def event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def sse_event(item: Event) -> bytes:
    """One event in the REST dialect (see the module contract)."""
    if isinstance(item, Delta):
        return b"event: delta\ndata: " + orjson.dumps({"text": item.text}) + b"\n\n"
    if isinstance(item, Started):
        ids = {
            "conversation_id": item.conversation_id,
            "parent_id": item.parent_id,
            "id": item.node_id,
            "model": item.model,
        }
        return event("start", ids)
    return event("done", {"response": response_item(item)})


def sse_failure(error: TurnFailed) -> bytes:
    return event("error", {"detail": error.detail, "response": response_item(error.turn)})


def sse(head: list[Event], rest: Rest) -> AsyncGenerator[bytes, None]:
    """The REST dialect's server-sent events for a turn (see :func:`turn_chunks`)."""
    return turn_chunks(head, rest, sse_event, sse_failure)


async def respond(request: Request, body: dict[str, Any], events: Any) -> Response:
    """201 with the answer, or its events as SSE once the first text arrived."""
    try:
        if not wants_stream(request, body):
            return FastJSON({"response": response_item(await collect(events))}, status_code=201)
        head, rest = await prime(events)
    except TurnFailed as error:
        return failure(error)
    return EventStream(sse(head, rest), status_code=201, headers=SSE_HEADERS)


@router.post(
    "/conversations/new",
    status_code=201,
    summary="Start a conversation with a prompt (Chat GPT REST API)",
    description="Creates a conversation titled from the prompt (or `title`) and answers it. "
    '201 `{"response": {...}}`; with `Accept: text/event-stream` or `stream: true`, '
    "server-sent events `start`, `delta`, then `done` (or `error`). JSON or form body.",
    openapi_extra=body_schema(
        {
            "prompt": _STRING,
            "title": _STRING,
            "model": _STRING,
            "autocontinue": _FLAG,
            "stream": _STREAM,
        },
        required=("prompt",),
    ),
)
async def new_conversation(request: Request, user: Asker, body: Body) -> Response:
    prompt = text_field(body, "prompt", required=True)
    assert prompt is not None
    events = chat_engine(deps.runtime(request)).ask(
        owner_id=user.id,
        prompt=prompt,
        title=text_field(body, "title"),
        model=text_field(body, "model"),
        autocontinue=flag(body, "autocontinue"),
    )
    return await respond(request, body, events)


@router.post(
    "/conversations/{conversation_id}/ask",
    status_code=201,
    summary="Ask in a conversation (Chat GPT REST API)",
    description="Adds the prompt under `parent_id` (default: the current message), answers "
    'it and makes the answer current. 201 `{"response": {...}}` (`id` is the answer, '
    "`parent_id` the prompt); streams like `/conversations/new`. JSON or form body.",
    openapi_extra=body_schema(
        {
            "prompt": _STRING,
            "parent_id": _STRING,
            "model": _STRING,
            "autocontinue": _FLAG,
            "stream": _STREAM,
        },
        required=("prompt",),
    ),
)
async def ask(request: Request, user: Asker, body: Body, conversation_id: str) -> Response:
    prompt = text_field(body, "prompt", required=True)
    assert prompt is not None
    events = chat_engine(deps.runtime(request)).ask(
        owner_id=user.id,
        prompt=prompt,
        conversation_id=conversation_id,
        parent_id=text_field(body, "parent_id"),
        model=text_field(body, "model"),
        autocontinue=flag(body, "autocontinue"),
    )
    return await respond(request, body, events)
