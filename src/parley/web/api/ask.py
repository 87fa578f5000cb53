"""The ChatGPT-API-server's ``POST /api/ask``: one prompt in, one answer out.

Contract (the seed's shapes):

* ``Authorization: <USER_TOKEN>`` (the seed's bare token) or ``Bearer <token>``;
* body ``{"content", "conversation_id"?, "parent_id"?, "model"?}``, JSON or form (the
  seed's ``curl -d '{...}'`` sends JSON under a form content type; that works);
* 200 ``{"id", "response_id", "conversation_id", "content", "error": ""}``: ``id`` is the
  prompt's node, ``response_id`` the answer's (pass it as ``parent_id`` to go on from
  it). Without ``conversation_id`` a new conversation starts;
* a failed model call answers its status (502, 504; 503 with no backend or agent) with
  the same fields plus ``detail``; ``error`` says what failed and ``content`` holds any
  partial answer, which is stored with the prompt;
* counts against the ``ask`` rate limit; another user's conversation is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from parley.chat.answering import Turn, TurnFailed, collect
from parley.web import deps
from parley.web.api.chat_rest import Asker, chat_engine, text_field
from parley.web.bodies import body_schema, read_body
from parley.web.responses import FastJSON

router = APIRouter(tags=["ChatGPT-API-server"])

Body = Annotated[dict[str, Any], Depends(read_body)]
_STRING = {"type": "string"}


def _reply(turn: Turn, error: str = "") -> dict[str, Any]:
    return {
        "id": turn.prompt_id or "",
        "response_id": turn.node_id,
        "conversation_id": turn.conversation_id,
        "content": turn.text,
        "error": error,
    }


@router.post(
    "/api/ask",
    summary="Ask (ChatGPT-API-server)",
    description="Sends `content` to a model (an LLM backend or a connected agent) and "
    "returns `{id, response_id, conversation_id, content, error}`. Give `conversation_id` "
    "and `parent_id` (a previous `response_id`) to go on in a conversation; omit them to "
    "start one. JSON or form body.",
    openapi_extra=body_schema(
        {"content": _STRING, "conversation_id": _STRING, "parent_id": _STRING, "model": _STRING},
        required=("content",),
    ),
)
async def api_ask(request: Request, user: Asker, body: Body) -> FastJSON:
    content = text_field(body, "content", required=True)
    assert content is not None
    events = chat_engine(deps.runtime(request)).ask(
        owner_id=user.id,
        prompt=content,
        conversation_id=text_field(body, "conversation_id"),
        parent_id=text_field(body, "parent_id"),
        model=text_field(body, "model"),
    )
    try:
        turn = await collect(events)
    except TurnFailed as failed:
        reply = {**_reply(failed.turn, failed.detail), "detail": failed.detail}
        return FastJSON(reply, status_code=failed.status)
    return FastJSON(_reply(turn))
