"""Request dependencies: who is calling, and whether they are within their rate limits.

Authentication accepts ``Authorization: Bearer <token>`` and a bare token (the seed
clients send that). The admin key is also accepted as a token and acts as the local
owner, as the ChatGPT-API-server did. Route handlers open their own transaction with
``with transaction(rt.factory) as session`` so that they own it.

Browsers authenticate with the session cookie :data:`SESSION_COOKIE` (see
:mod:`parley.accounts`) when no ``Authorization`` header is sent; an unknown or expired
cookie is simply anonymous. A cookie-authenticated POST/PUT/PATCH/DELETE must carry the
session's CSRF token (:func:`csrf_token_for`) in the ``X-CSRF-Token`` header or in the
``csrf_token`` field of a form or JSON body that was already read (declare the body
dependency before the user dependency); otherwise :func:`optional_user` and
:func:`current_user` answer 403. Header-authenticated calls need no CSRF token.

The dependencies are coroutines: on SQLite their reads run on the event loop (they are
index lookups, cheaper than a hop to a worker thread), elsewhere in a worker thread.
Code that already runs in a worker thread uses :func:`identify` and :func:`require`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Literal, cast
from urllib.parse import parse_qsl

import orjson
from anyio import to_thread
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from parley import accounts
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


SESSION_COOKIE = "parley_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _sent_csrf(request: Request) -> str | None:
    """The CSRF token the request carries: the header, else a field of a body already read."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = getattr(request, "_form", None)
    if form is not None:
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    raw = getattr(request, "_body", None)
    if not raw:
        return None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded" and not raw.lstrip().startswith(b"{"):
        return dict(parse_qsl(raw.decode(errors="replace"))).get(CSRF_FIELD)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    value = data.get(CSRF_FIELD) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _enforce_csrf(request: Request) -> None:
    """403 for a cookie-authenticated unsafe request without its session's CSRF token."""
    secret = getattr(request.state, "csrf_secret", None)
    if secret is None or request.method in SAFE_METHODS:
        return
    if getattr(request.state, "csrf_checked", False):
        return
    if not accounts.csrf_ok(secret, _sent_csrf(request)):
        raise Forbidden(
            "missing or wrong CSRF token: send the X-CSRF-Token header (or the csrf_token "
            "form field) with requests authenticated by the session cookie"
        )
    request.state.csrf_checked = True


def csrf_token_for(request: Request) -> str | None:
    """The CSRF token for forms on this request's session; None unless signed in by cookie."""
    try:
        _resolved(request)
    except Unauthorized:
        return None
    secret = getattr(request.state, "csrf_secret", None)
    return accounts.csrf_token(secret) if secret else None


_UNRESOLVED = object()


def _lookup(request: Request) -> tuple[User | None, str | None]:
    """Who the credentials belong to (a read), and the token whose use to record, if due.

    Runs in any thread; the reads go through the runtime's reader.
    """
    rt = runtime(request)
    token = token_of(request)
    if token:
        if rt.admin_key.matches(token):
            user = rt.reader.run_single(users.first_admin)
            if user is None:  # a library without an owner yet: create it
                with transaction(rt.factory) as session:
                    user = users.local_owner(session)
        else:
            user = rt.reader.run_single(lambda db: users.user_for_token(db, token=token))
        if user is None:
            raise Unauthorized("invalid token; ask an admin for a new one (POST /admin/users/add)")
        return user, token if _touch_due(rt, token) else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = rt.reader.run(lambda db: accounts.session_user(db, token=cookie))
        if found is not None:
            request.state.csrf_secret = found.csrf_secret
            return found.user, None
    return None, None


def _touch_due(rt: Runtime, token: str) -> bool:
    """Whether this process should note the token's use now (at most once per interval)."""
    now = time.time()
    touched: dict[str, float] = rt.extras.setdefault("token_touches", {})  # type: ignore[assignment]
    key = hashlib.sha256(token.encode()).hexdigest()
    if now - touched.get(key, 0.0) < users.TOUCH_INTERVAL:
        return False
    touched[key] = now
    return True


def _record_use(rt: Runtime, token: str) -> None:
    """Note the token's use, never failing the request: a busy database only delays it."""
    try:
        with transaction(rt.factory) as session:
            users.touch_token(session, token=token, now=time.time())
    except SQLAlchemyError:
        key = hashlib.sha256(token.encode()).hexdigest()
        rt.extras.get("token_touches", {}).pop(key, None)  # type: ignore[attr-defined]


def _resolved(request: Request) -> User | None:
    """The caller or None, looked up once per request (a bad token is a 401)."""
    cached = getattr(request.state, "user", _UNRESOLVED)
    if cached is _UNRESOLVED:
        cached, touch = _lookup(request)
        if touch:
            _record_use(runtime(request), touch)
        request.state.user = cached
    return cast("User | None", cached)


def identify(request: Request) -> User | None:
    """The caller or None, for code already running in a worker thread; CSRF enforced."""
    user = _resolved(request)
    _enforce_csrf(request)
    return user


def require(request: Request) -> User:
    """:func:`identify`, answering 401 when the request carries no credentials."""
    user = identify(request)
    if user is None:
        raise Unauthorized(NO_CREDENTIALS)
    return user


NO_CREDENTIALS = (
    "authentication required: send 'Authorization: Bearer <token>' "
    "(tokens come from POST /admin/users/add or `parley users add`)"
)


async def optional_user(request: Request) -> User | None:
    """Dependency: the caller, or None when the request carries no credentials (a bad
    token is a 401). On SQLite the lookup runs right here (see ``store.direct.Reader``)."""
    if getattr(request.state, "user", _UNRESOLVED) is _UNRESOLVED:
        rt = runtime(request)
        if rt.reader.inline:
            found, touch = _lookup(request)
        else:
            found, touch = await to_thread.run_sync(_lookup, request)
        if touch:
            await to_thread.run_sync(_record_use, rt, touch)
        request.state.user = found
    return identify(request)


async def current_user(request: Request) -> User:
    """Dependency: the caller; 401 when the request carries no valid token or cookie."""
    user = await optional_user(request)
    if user is None:
        raise Unauthorized(NO_CREDENTIALS)
    return user


async def admin_user(request: Request) -> User:
    user = await current_user(request)
    if not user.is_admin:
        raise Forbidden("this route is for admins")
    return user


def require_admin_key(request: Request, key: str | None) -> None:
    """401 unless ``key`` is the admin key; the message never repeats what was sent."""
    if not runtime(request).admin_key.matches(key):
        raise Unauthorized("wrong or missing admin_key")


def rate_limit(
    kind: Literal["ask", "read", "share", "login"],
) -> Callable[[Request], Awaitable[None]]:
    """A dependency that counts the request against its token's and its address's budget."""

    def check(request: Request) -> None:
        rt = runtime(request)
        rules = {"ask": rt.ask_rule, "share": rt.share_rule, "login": rt.login_rule}
        rule = rules.get(kind, rt.read_rule)
        keys = [f"{kind}:ip:{client_address(request)}"]
        token = token_of(request)
        if token:
            keys.append(f"{kind}:tok:{hashlib.sha256(token.encode()).hexdigest()[:32]}")
        elif request.cookies.get(SESSION_COOKIE):
            cookie = request.cookies[SESSION_COOKIE]
            keys.append(f"{kind}:ses:{hashlib.sha256(cookie.encode()).hexdigest()[:32]}")
        for key in keys:
            retry = rt.limiter.hit(key, rule)
            if retry is not None:
                raise RateLimited(
                    f"rate limit exceeded ({rule.count} requests per {rule.seconds} s); "
                    f"retry in {retry} s",
                    retry_after=retry,
                )

    async def limit(request: Request) -> None:
        if runtime(request).limiter.blocking:  # Redis: a network round trip
            await to_thread.run_sync(check, request)
        else:
            check(request)

    return limit


def caller(kind: Literal["ask", "read", "share", "login"]) -> Callable[[Request], Awaitable[User]]:
    """One dependency for ``rate_limit(kind)`` then :func:`current_user` (a 429 comes
    before a 401): for the busiest routes, where each dependency has its cost."""
    limit = rate_limit(kind)

    async def resolve(request: Request) -> User:
        await limit(request)
        return await current_user(request)

    return resolve
