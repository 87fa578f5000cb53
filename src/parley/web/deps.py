"""Request dependencies: who is calling, and whether they are within their rate limits.

Authentication accepts ``Authorization: Bearer <token>`` and a bare token (the seed
clients send that). The admin key is also accepted as a token and acts as the local
owner, as the ChatGPT-API-server did. Route handlers open their own transaction with
``with transaction(rt.factory) as session`` so that they own it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Literal, cast

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from parley.errors import Forbidden, RateLimited, Unauthorized
from parley.store import users
from parley.store.db import transaction
from parley.store.users import User
from parley.web.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "").strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return header


def client_address(request: Request) -> str:
    if runtime(request).settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def _resolve(request: Request) -> User | None:
    cached = getattr(request.state, "user", False)
    if cached is not False:
        return cast("User | None", cached)
    rt = runtime(request)
    token = token_of(request)
    user: User | None = None
    if token:
        with transaction(rt.factory) as session:
            if rt.admin_key.matches(token):
                user = users.local_owner(session)
            else:
                user = users.user_for_token(session, token=token)
        if user is None:
            raise Unauthorized("invalid token; ask an admin for a new one (POST /admin/users/add)")
        _record_use(rt, token)
    request.state.user = user
    return user


def _record_use(rt: Runtime, token: str) -> None:
    """Note the token's use, at most once per interval per process, never failing the
    request: a busy database only delays the note."""
    now = time.time()
    touched: dict[str, float] = rt.extras.setdefault("token_touches", {})  # type: ignore[assignment]
    key = hashlib.sha256(token.encode()).hexdigest()
    if now - touched.get(key, 0.0) < users.TOUCH_INTERVAL:
        return
    touched[key] = now
    try:
        with transaction(rt.factory) as session:
            users.touch_token(session, token=token, now=now)
    except SQLAlchemyError:
        touched.pop(key, None)


def optional_user(request: Request) -> User | None:
    """The caller, or None when the request carries no credentials (a bad token is a 401)."""
    return _resolve(request)


def current_user(request: Request) -> User:
    """The caller; 401 when the request carries no valid token."""
    user = _resolve(request)
    if user is None:
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <token>' "
            "(tokens come from POST /admin/users/add or `parley users add`)"
        )
    return user


def admin_user(request: Request) -> User:
    user = current_user(request)
    if not user.is_admin:
        raise Forbidden("this route is for admins")
    return user


def require_admin_key(request: Request, key: str | None) -> None:
    """401 unless ``key`` is the admin key; the message never repeats what was sent."""
    if not runtime(request).admin_key.matches(key):
        raise Unauthorized("wrong or missing admin_key")


def rate_limit(kind: Literal["ask", "read"]) -> Callable[[Request], None]:
    """A dependency that counts the request against its token's and its address's budget."""

    def check(request: Request) -> None:
        rt = runtime(request)
        rule = rt.ask_rule if kind == "ask" else rt.read_rule
        keys = [f"{kind}:ip:{client_address(request)}"]
        token = token_of(request)
        if token:
            keys.append(f"{kind}:tok:{hashlib.sha256(token.encode()).hexdigest()[:32]}")
        for key in keys:
            retry = rt.limiter.hit(key, rule)
            if retry is not None:
                raise RateLimited(
                    f"rate limit exceeded ({rule.count} requests per {rule.seconds} s); "
                    f"retry in {retry} s",
                    retry_after=retry,
                )

    return check
