"""Issuing agent tokens: ``POST /admin/agents/add``.

Contract:

* body ``{"admin_key", "name"?}`` (JSON or form), the admin key required (401 otherwise,
  the key never repeated); ``name`` is 1-64 letters, digits, ``.``, ``_`` or ``-``
  (default ``agent-<8 hex digits>``);
* each name is a service user ``agent:<name>`` (created on first use, never an admin);
  the token belongs to it, so agents holding tokens of the same name may reclaim each
  other's ids and no other token can. Deleting that user (``POST /admin/users/delete``)
  revokes its tokens;
* answers ``{"user_id", "name", "token"}``: the only time the token exists in plaintext
  (its SHA-256 is stored, with kind ``agent``: it is not a user token and opens no other
  route).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from parley.agents.tokens import issue_agent_token
from parley.errors import Unprocessable
from parley.store.db import transaction
from parley.web import deps
from parley.web.bodies import body_schema, read_body

router = APIRouter(tags=["agents"], dependencies=[Depends(deps.rate_limit("read"))])
Body = Annotated[dict[str, Any], Depends(read_body)]


@router.post(
    "/admin/agents/add",
    summary="Issue an agent token",
    description="Issues a token for `parley agent` (or any agent speaking the protocol in "
    "docs/agents.md) to connect to `GET /client/register`. Tokens of one `name` belong to "
    "the service user `agent:<name>`, created on first use; deleting that user revokes "
    "them. The token is shown only in this response (only its SHA-256 is stored). The "
    "body may be JSON or a form.",
    openapi_extra=body_schema(
        {
            "admin_key": {"type": "string", "description": "The server's admin key."},
            "name": {"type": "string", "description": "Agent name (optional)."},
        },
        required=("admin_key",),
    ),
)
def add_agent(request: Request, body: Body) -> dict[str, str]:
    key = body.get("admin_key")
    deps.require_admin_key(request, key if isinstance(key, str) else None)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise Unprocessable("'name' must be a string")
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        user, token = issue_agent_token(session, name=(name or "").strip() or None)
    return {"user_id": user.id, "name": user.name, "token": token}
