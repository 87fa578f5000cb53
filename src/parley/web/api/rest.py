"""The Chat GPT REST API, read side: list conversations, read messages, delete.

Contract (the seed's shapes; ``POST /conversations/new`` and ``/ask`` live with chat):

* ``GET /conversations?offset=0&limit=100`` -> a JSON array of
  ``{"id", "title", "create_time", "update_time", "mapping": null, "current_node": null}``,
  newest first, times as ``2023-05-28T17:13:08.233528+00:00``; ``limit`` is 1-1000
  (default 100), so page with ``offset`` for more.
* ``GET /conversations/{id}/messages`` -> the visible branch (root -> ``current_node``,
  hidden messages left out, as ChatGPT shows it), each as
  ``{"id", "author": {"role", "name", "metadata"}, "message", "conversation_id",
  "parent_id", "model", "finish_details", "end_turn", "recipient", "citations",
  "create_time"}`` where ``parent_id`` is the node's parent in the tree.
* ``DELETE /conversations/{id}`` and ``DELETE /conversations/all`` (only the caller's)
  -> 204 with no body.

Every route needs a token and counts against the ``read`` rate limit; another user's
conversation is a 404, like one that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from parley import tree
from parley.store import conversations
from parley.store.db import transaction
from parley.store.users import User
from parley.web import deps
from parley.web.responses import FastJSON

router = APIRouter(tags=["Chat GPT REST API"])

CurrentUser = Annotated[User, Depends(deps.caller("read"))]  # rate limit, then the token
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def iso_offset(epoch: float | None) -> str | None:
    """``2023-05-28T17:13:08.233528+00:00`` (microseconds left out when zero, as the seed)."""
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC).isoformat()
    except (OverflowError, OSError, ValueError):  # an imported time no calendar holds
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def message_item(
    conversation_id: str, node_id: str, parent_id: str | None, message: dict[str, Any]
) -> dict[str, Any]:
    """One message in the seed's shape."""
    author = _dict(message.get("author"))
    meta = _dict(message.get("metadata"))
    finish = _dict(meta.get("finish_details")).get("type")
    citations = meta.get("citations")
    created = message.get("create_time")
    return {
        "id": node_id,
        "author": {
            "role": tree.role(message),
            "name": author.get("name"),
            "metadata": _dict(author.get("metadata")),
        },
        "message": tree.message_text(message),
        "conversation_id": conversation_id,
        "parent_id": parent_id,
        "model": tree.model_slug(message),
        "finish_details": finish,
        "end_turn": message.get("end_turn"),
        "recipient": message.get("recipient"),
        "citations": citations if isinstance(citations, list) else [],
        "create_time": iso_offset(created) if isinstance(created, int | float) else None,
    }


def visible_items(conversation_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The visible branch's shown messages, root first, with their node ids and parents."""
    shape = tree.Tree.build(data.get("mapping"))
    items = []
    for node_id in shape.visible_path(data.get("current_node")):
        message = shape.nodes[node_id].get("message")
        if isinstance(message, dict) and not tree.is_hidden(message):
            items.append(message_item(conversation_id, node_id, shape.parent[node_id], message))
    return items


@router.get(
    "/conversations",
    summary="List conversations (Chat GPT REST API)",
    description=f"The caller's conversations, most recently updated first, as a JSON array. "
    f"`limit` is 1-{MAX_LIMIT} (default {DEFAULT_LIMIT}); page with `offset`.",
)
async def list_conversations(
    request: Request,
    user: CurrentUser,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> FastJSON:
    rows = await deps.runtime(request).read(
        lambda db: conversations.summaries(db, owner_id=user.id, offset=offset, limit=limit)
    )
    return FastJSON(
        [
            {
                "id": row.id,
                "title": row.title,
                "create_time": iso_offset(row.create_time),
                "update_time": iso_offset(row.update_time),
                "mapping": None,
                "current_node": None,
            }
            for row in rows
        ]
    )


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="Messages of a conversation (Chat GPT REST API)",
    description="The visible branch (root to `current_node`), without the messages ChatGPT "
    "hides (system prompts, tool calls, reasoning). `parent_id` is the node's parent; "
    "`create_time` is ISO 8601.",
)
async def get_messages(request: Request, user: CurrentUser, conversation_id: str) -> FastJSON:
    data = await deps.runtime(request).read(
        lambda db: conversations.load(db, owner_id=user.id, conversation_id=conversation_id)
    )
    return FastJSON(visible_items(conversation_id, data))


@router.delete(
    "/conversations/all",
    status_code=204,
    summary="Delete all of the caller's conversations (Chat GPT REST API)",
    description="Deletes every conversation of the caller (nobody else's). 204, no body.",
    response_class=Response,
)
def delete_all(request: Request, user: CurrentUser) -> Response:
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        conversations.remove_all(session, owner_id=user.id)
    return Response(status_code=204)


@router.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    summary="Delete a conversation (Chat GPT REST API)",
    description="Deletes the conversation and all its messages. 204, no body; 404 when "
    "the caller has no such conversation. (A conversation whose id is `all` can only be "
    'deleted with `PATCH /backend-api/conversation/all {"is_visible": false}`.)',
    response_class=Response,
)
def delete_one(request: Request, user: CurrentUser, conversation_id: str) -> Response:
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        conversations.remove(session, owner_id=user.id, conversation_id=conversation_id)
    return Response(status_code=204)
