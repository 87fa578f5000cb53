"""The ChatGPT-API-server admin routes: add, delete and list users and their tokens.

Contract (the seed's shapes, with its defects fixed):

* every route takes the admin key as ``admin_key`` (in the body for the POSTs, in the
  query string for the GET) and answers 401 ``{"detail": "wrong or missing admin_key"}``
  otherwise; a user token is never an admin key, and no response repeats a key;
* ``POST /admin/users/add`` -> ``{"user_id", "token"}``: the only time the token exists
  in plaintext (only its SHA-256 is stored);
* ``POST /admin/users/delete`` -> ``{"message": "User deleted"}``, 404 for an unknown id;
  the user's tokens and conversations go with it;
* ``GET /admin/users`` -> ``{"users": [...]}``; since tokens are hashed at rest, each
  entry shows ``"token": "<first 8 characters>…"`` instead of the token.

The POST bodies may be JSON or a form (see :mod:`parley.web.bodies`). Every route counts
against the ``read`` rate limit of the caller's address, which slows down key guessing.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from parley.errors import Unprocessable
from parley.store import conversations, users
from parley.store.db import transaction
from parley.web import deps
from parley.web.bodies import body_schema, read_body

# Counted against the read budget per address, so that admin keys cannot be guessed fast.
router = APIRouter(tags=["admin"], dependencies=[Depends(deps.rate_limit("read"))])

Body = Annotated[dict[str, Any], Depends(read_body)]
MAX_NAME_LENGTH = 200
ADMIN_KEY_DOC = {"type": "string", "description": "The server's admin key."}


def _text_field(body: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise Unprocessable(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise Unprocessable(f"'{key}' must be a string")
    return value.strip()


def masked(prefix: str) -> str:
    """How a token is shown once it is stored: its first characters and an ellipsis."""
    return f"{prefix[: users.TOKEN_PREFIX_LENGTH]}…"


@router.post(
    "/admin/users/add",
    summary="Add a user and issue an API token",
    description="Creates a user and returns its id and a new API token. The token is shown "
    "only in this response: Parley stores only its SHA-256. `name` is optional (default "
    "`user-<8 hex digits>`). The body may be JSON or a form.",
    openapi_extra=body_schema(
        {
            "admin_key": ADMIN_KEY_DOC,
            "name": {"type": "string", "description": "Unique user name (optional)."},
        },
        required=("admin_key",),
    ),
)
def add_user(request: Request, body: Body) -> dict[str, str]:
    deps.require_admin_key(request, _key(body.get("admin_key")))
    name = _text_field(body, "name", required=False) or f"user-{secrets.token_hex(4)}"
    if len(name) > MAX_NAME_LENGTH:
        raise Unprocessable(f"'name' is longer than {MAX_NAME_LENGTH} characters")
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        user = users.create(session, name=name)
        token = users.issue_token(session, user_id=user.id)
    return {"user_id": user.id, "token": token}


@router.post(
    "/admin/users/delete",
    summary="Delete a user",
    description="Deletes the user with `user_id`, invalidating its tokens and deleting its "
    "conversations. 404 when there is no such user. The body may be JSON or a form.",
    openapi_extra=body_schema(
        {"admin_key": ADMIN_KEY_DOC, "user_id": {"type": "string"}},
        required=("admin_key", "user_id"),
    ),
)
def delete_user(request: Request, body: Body) -> dict[str, str]:
    deps.require_admin_key(request, _key(body.get("admin_key")))
    user_id = _text_field(body, "user_id", required=True)
    assert user_id is not None
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        if users.by_id(session, user_id=user_id) is not None:
            conversations.remove_all(session, owner_id=user_id)
        users.remove(session, user_id=user_id)
    return {"message": "User deleted"}


@router.get(
    "/admin/users",
    summary="List users",
    description="Every user with its id, name and whether it is an admin. Tokens are "
    "stored only as hashes, so they cannot be listed: `token` shows the first 8 "
    "characters of the user's first token followed by `…` (null when it has none), and "
    "`token_prefixes` lists all of them the same way.",
)
def list_users(
    request: Request,
    admin_key: Annotated[str | None, Query(description="The server's admin key.")] = None,
) -> dict[str, list[dict[str, Any]]]:
    deps.require_admin_key(request, admin_key)
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        listed = []
        for user in users.all_users(session):
            prefixes = [masked(p) for p in users.token_prefixes(session, user_id=user.id)]
            listed.append(
                {
                    "user_id": user.id,
                    "name": user.name,
                    "token": prefixes[0] if prefixes else None,
                    "token_prefixes": prefixes,
                    "is_admin": user.is_admin,
                }
            )
    return {"users": listed}


def _key(value: object) -> str | None:
    return value if isinstance(value, str) else None
