"""The ChatGPT backend-api: the conversation list, one conversation, and changing one.

Contract (what the ChatGPT export tools and the heatmap extension rely on):

* ``GET /backend-api/conversations?offset&limit&order&is_archived`` ->
  ``{"items", "total", "limit", "offset", "has_missing_conversations": false}``, newest
  first; ``limit`` defaults to 28 and may not exceed 100. Items carry ChatGPT's list
  fields with times as ``2024-12-22T07:37:07.270530Z`` and ``mapping``/``current_node``
  null. Bad query values answer 422 in ChatGPT's (pydantic v1) shape, e.g.
  ``{"loc": ["query", "limit"], "msg": "ensure this value is less than or equal to 100",
  "type": "value_error.number.not_le", "ctx": {"limit_value": 100}}``. One query for the
  page and one for the total (a counter, not a count), whatever the page size.
* ``GET /backend-api/conversation/{id}`` -> the conversation in the export shape (times
  as epoch seconds, the full ``mapping``), plus ``id`` and ``conversation_id``.
* ``PATCH /backend-api/conversation/{id}`` with any of ``{"is_archived": bool}``,
  ``{"title": str}``, ``{"is_starred": bool}``, ``{"is_visible": false}`` (deletes it)
  -> ``{"success": true}``; other keys or types answer 422.

Every route needs a token and counts against the ``read`` rate limit. Another user's
conversation is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from parley.errors import Unprocessable
from parley.rawlist import list_fragments
from parley.store import conversations
from parley.store.conversations import Order
from parley.store.db import transaction
from parley.store.direct import Db
from parley.store.users import User
from parley.web import deps
from parley.web.bodies import body_schema, query_schema, read_body
from parley.web.responses import FastJSON

router = APIRouter(tags=["ChatGPT backend-api"])

# The two GET routes, the busiest, resolve their caller in the body: FastAPI's dependency
# machinery costs them about a tenth of their time (the OpenAPI schema is the same).
read_caller = deps.caller("read")  # rate limit, then the token
CurrentUser = Annotated[User, Depends(read_caller)]
DEFAULT_LIMIT = 28
MAX_LIMIT = 100
MAX_TITLE_LENGTH = 10_000
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
ORDERS: tuple[Order, ...] = ("updated", "created")


def _integer(
    errors: list[dict[str, Any]], name: str, raw: str | None, default: int, lo: int, hi: int | None
) -> int:
    if raw is None:
        return default
    loc = ["query", name]
    if not _INTEGER.match(raw):
        errors.append(
            {"loc": loc, "msg": "value is not a valid integer", "type": "type_error.integer"}
        )
        return default
    value = int(raw)
    if value < lo:
        errors.append(
            {
                "loc": loc,
                "msg": f"ensure this value is greater than or equal to {lo}",
                "type": "value_error.number.not_ge",
                "ctx": {"limit_value": lo},
            }
        )
    elif hi is not None and value > hi:
        errors.append(
            {
                "loc": loc,
                "msg": f"ensure this value is less than or equal to {hi}",
                "type": "value_error.number.not_le",
                "ctx": {"limit_value": hi},
            }
        )
    return value


def _boolean(errors: list[dict[str, Any]], name: str, raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    errors.append(
        {
            "loc": ["query", name],
            "msg": "value could not be parsed to a boolean",
            "type": "type_error.bool",
        }
    )
    return None


def _order(errors: list[dict[str, Any]], raw: str | None) -> Order:
    if raw is None or raw == "":
        return "updated"
    for order in ORDERS:
        if raw == order:
            return order
    errors.append(
        {
            "loc": ["query", "order"],
            "msg": "value is not a valid enumeration member; permitted: 'updated', 'created'",
            "type": "type_error.enum",
            "ctx": {"enum_values": list(ORDERS)},
        }
    )
    return "updated"


@router.get(
    "/backend-api/conversations",
    summary="List conversations (ChatGPT backend-api)",
    description="A page of the caller's conversations, newest first. `limit` is 1-100 "
    "(default 28), `offset` ≥ 0, `order` is `updated` (default) or `created`, "
    "`is_archived` filters when given. Page with `offset += limit` until a page is short "
    "or `offset + limit >= total`.",
    openapi_extra=query_schema(
        {
            "offset": "Integer ≥ 0 (default 0).",
            "limit": "Integer 1-100 (default 28).",
            "order": "`updated` or `created`.",
            "is_archived": "`true` or `false`.",
        }
    ),
)
async def list_conversations(request: Request) -> FastJSON:
    user = await read_caller(request)
    query = request.query_params  # read here: the errors must be in ChatGPT's own shape
    errors: list[dict[str, Any]] = []
    first = _integer(errors, "offset", query.get("offset"), 0, 0, None)
    size = _integer(errors, "limit", query.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT)
    sort = _order(errors, query.get("order"))
    archived = _boolean(errors, "is_archived", query.get("is_archived"))
    if errors:  # ChatGPT's (pydantic v1) entries, not FastAPI's: the clients parse these
        return FastJSON({"detail": errors}, status_code=422)

    def page(db: Db) -> tuple[list[tuple[Any, ...]], int]:
        rows = conversations.list_rows(
            db, owner_id=user.id, offset=first, limit=size, order=sort, is_archived=archived
        )
        return rows, conversations.count(db, owner_id=user.id, is_archived=archived)

    rows, total = await deps.runtime(request).read(page)
    return FastJSON(
        {
            "items": list_fragments(rows),
            "total": total,
            "limit": size,
            "offset": first,
            "has_missing_conversations": False,
        }
    )


@router.get(
    "/backend-api/conversation/{conversation_id}",
    summary="Get one conversation (ChatGPT backend-api)",
    description="The conversation in ChatGPT's export shape: the full `mapping` tree, "
    "`current_node`, times as epoch seconds, plus `id` and `conversation_id`.",
)
async def get_conversation(request: Request, conversation_id: str) -> FastJSON:
    user = await read_caller(request)
    data = await deps.runtime(request).read(
        lambda db: conversations.load_json(db, owner_id=user.id, conversation_id=conversation_id)
    )
    data["id"] = conversation_id
    data["conversation_id"] = conversation_id
    return FastJSON(data)


PATCH_FIELDS = ("is_archived", "title", "is_starred", "is_visible")


def _patch_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"  # a form sends strings
    raise Unprocessable(f"'{key}' must be true or false")


@router.patch(
    "/backend-api/conversation/{conversation_id}",
    summary="Change one conversation (ChatGPT backend-api)",
    description="Send any of `is_archived` (bool), `title` (string), `is_starred` (bool), "
    'or `is_visible: false` to delete the conversation. Answers `{"success": true}`.',
    openapi_extra=body_schema(
        {
            "is_archived": {"type": "boolean"},
            "title": {"type": "string"},
            "is_starred": {"type": "boolean"},
            "is_visible": {"type": "boolean", "description": "false deletes it"},
        }
    ),
)
def patch_conversation(
    request: Request,
    user: CurrentUser,
    conversation_id: str,
    body: Annotated[dict[str, Any], Depends(read_body)],
) -> dict[str, bool]:
    unknown = sorted(set(body) - set(PATCH_FIELDS))
    if unknown:
        raise Unprocessable(
            f"unknown field(s) {', '.join(map(repr, unknown))}; "
            f"send any of {', '.join(PATCH_FIELDS)}"
        )
    if not body:
        raise Unprocessable(f"nothing to change; send any of {', '.join(PATCH_FIELDS)}")
    title = body.get("title")
    if title is not None and not isinstance(title, str):
        raise Unprocessable("'title' must be a string")
    if title is not None and len(title) > MAX_TITLE_LENGTH:
        raise Unprocessable(f"'title' is longer than {MAX_TITLE_LENGTH} characters")
    archived = _patch_bool(body, "is_archived")
    starred = _patch_bool(body, "is_starred")
    visible = _patch_bool(body, "is_visible")
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        conversations.set_fields(
            session,
            owner_id=user.id,
            conversation_id=conversation_id,
            title=title,
            is_archived=archived,
            is_starred=starred,
        )
        if visible is False:
            conversations.remove(session, owner_id=user.id, conversation_id=conversation_id)
    return {"success": True}
