"""Agent tokens: who may connect agents to the hub.

* each agent name is a service user ``agent:<name>`` (created on first use, never an
  admin); its tokens have kind ``agent``, so they are not user tokens and open no other
  route, and user tokens and the admin key are not agent tokens;
* agents whose tokens belong to the same user may reclaim each other's agent ids; no
  other token can (see :mod:`parley.agents.hub`);
* deleting the service user (``POST /admin/users/delete``, ``parley users delete``)
  revokes its tokens. Tokens are stored hashed (:func:`parley.store.users.issue_token`).
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy.orm import Session

from parley.errors import Conflict, Unprocessable
from parley.store import users

AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
USER_PREFIX = "agent:"
TOKEN_KIND = "agent"


def issue_agent_token(session: Session, *, name: str | None) -> tuple[users.User, str]:
    """The service user for ``name`` (created if new; default a random name) and a token."""
    name = name or f"agent-{secrets.token_hex(4)}"
    if not AGENT_NAME.match(name):
        raise Unprocessable(
            "agent name must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    user_name = USER_PREFIX + name
    user = users.by_name(session, name=user_name) or users.create(session, name=user_name)
    if user.is_admin:
        raise Conflict(f"{user_name!r} is an admin user; agent tokens go to service users only")
    token = users.issue_token(session, user_id=user.id, kind=TOKEN_KIND, label=name)
    return user, token


def agent_owner(session: Session, *, token: str) -> users.User | None:
    """The user an agent token belongs to, or None (also for user tokens)."""
    return users.user_for_token(session, token=token, kind=TOKEN_KIND)
