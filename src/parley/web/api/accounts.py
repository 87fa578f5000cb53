"""Web UI accounts: sign up, log in and out, one-time login links.

Contract:

* ``POST /api/auth/signup {name, password}`` creates an account and signs it in (201);
  403 when ``settings.allow_signup`` is off; 409 for a name in use; 422 for a name or
  password out of bounds (:mod:`parley.accounts`);
* ``POST /api/auth/login {name, password}`` answers ``{user_id, name, csrf_token}`` and
  sets the session cookie; a wrong name or password is one 401 message;
* the cookie (:data:`parley.web.deps.SESSION_COOKIE`) is HttpOnly, SameSite=Lax, Path=/,
  Secure when the request or ``settings.public_url`` is https, and lasts
  ``settings.session_days``; only its SHA-256 is stored;
* ``POST /api/auth/logout`` ends the session (CSRF token required when signed in by
  cookie) and clears the cookie: 204;
* ``POST /api/auth/login-link {user_id?}`` (a token or a session) issues a one-time link
  for yourself, or for anyone when you are an admin: ``{url, expires_at}``.
  ``GET /auth/link/{token}`` redeems it once (sets the cookie, 302 to ``/library``);
  link previews (bot user agents) are refused without using the link up.

Sign-up and log-in count against the ``login`` rate limit per client address.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from parley import accounts, views
from parley.errors import Forbidden, Unprocessable
from parley.store.db import transaction
from parley.store.users import User
from parley.web import deps
from parley.web.api.sharegpt import created_at
from parley.web.bodies import body_schema, read_body
from parley.web.responses import FastJSON

router = APIRouter(tags=["accounts"])

Body = Annotated[dict[str, Any], Depends(read_body)]
LOGIN_LIMIT = [Depends(deps.rate_limit("login"))]
CREDENTIALS = body_schema(
    {"name": {"type": "string"}, "password": {"type": "string", "format": "password"}},
    required=("name", "password"),
)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def set_session_cookie(request: Request, response: Response, signed: accounts.SignedIn) -> None:
    settings = deps.runtime(request).settings
    secure = request.url.scheme == "https" or settings.base_url.startswith("https://")
    response.set_cookie(
        deps.SESSION_COOKIE,
        signed.token,
        max_age=settings.session_days * 86400,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def open_session(request: Request, session: Any, user: User) -> accounts.SignedIn:
    days = deps.runtime(request).settings.session_days
    return accounts.open_session(session, user=user, ttl_seconds=days * 86400)


def _signed_in(request: Request, signed: accounts.SignedIn, status: int) -> FastJSON:
    response = FastJSON(
        {"user_id": signed.user.id, "name": signed.user.name, "csrf_token": signed.csrf_token},
        status_code=status,
    )
    set_session_cookie(request, response, signed)
    return response


@router.post(
    "/api/auth/signup",
    status_code=201,
    summary="Create an account",
    description="Creates an account with a password and signs it in (sets the session "
    "cookie). 403 when sign-up is turned off (`PARLEY_ALLOW_SIGNUP=false`).",
    dependencies=LOGIN_LIMIT,
    openapi_extra=CREDENTIALS,
)
def signup(request: Request, body: Body) -> FastJSON:
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        user = accounts.signup(
            session,
            name=_text(body, "name"),
            password=_text(body, "password"),
            allowed=rt.settings.allow_signup,
        )
        signed = open_session(request, session, user)
    return _signed_in(request, signed, 201)


@router.post(
    "/api/auth/login",
    summary="Log in with a password",
    description="Sets the session cookie and answers `{user_id, name, csrf_token}`; send "
    "the CSRF token as `X-CSRF-Token` (or the `csrf_token` form field) with every "
    "cookie-authenticated POST, PUT, PATCH and DELETE. 401 for a wrong name or password.",
    dependencies=LOGIN_LIMIT,
    openapi_extra=CREDENTIALS,
)
def login(request: Request, body: Body) -> FastJSON:
    if not _text(body, "name") or not _text(body, "password"):
        raise Unprocessable("send 'name' and 'password'")
    with transaction(deps.runtime(request).factory) as session:
        user = accounts.authenticate(
            session, name=_text(body, "name"), password=_text(body, "password")
        )
        signed = open_session(request, session, user)
    return _signed_in(request, signed, 200)


@router.post(
    "/api/auth/logout",
    status_code=204,
    response_class=Response,
    summary="Log out",
    description="Ends the session and clears the cookie (204). Needs the CSRF token when "
    "signed in by cookie.",
)
def logout(request: Request) -> Response:
    deps.identify(request)  # enforces the CSRF token for a live session
    cookie = request.cookies.get(deps.SESSION_COOKIE)
    if cookie:
        with transaction(deps.runtime(request).factory) as session:
            accounts.close_session(session, token=cookie)
    response = Response(status_code=204)
    response.delete_cookie(deps.SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.post(
    "/api/auth/login-link",
    summary="Issue a one-time login link",
    description="A link that signs its first visitor in as the user, once, within "
    "`PARLEY_LOGIN_LINK_MINUTES`. For yourself, or (admins) for `user_id`.",
    dependencies=[Depends(deps.rate_limit("read"))],
    openapi_extra=body_schema({"user_id": {"type": "string"}}),
)
def login_link(
    request: Request, body: Body, user: Annotated[User, Depends(deps.current_user)]
) -> FastJSON:
    rt = deps.runtime(request)
    target = _text(body, "user_id") or user.id
    if target != user.id and not user.is_admin:
        raise Forbidden("only admins can issue login links for other users")
    ttl = rt.settings.login_link_minutes * 60
    expires_at = time.time() + ttl
    with transaction(rt.factory) as session:
        token = accounts.issue_login_link(session, user_id=target, ttl_seconds=ttl)
    return FastJSON(
        {"url": f"{rt.settings.base_url}/auth/link/{token}", "expires_at": created_at(expires_at)}
    )


@router.get(
    "/auth/link/{token}",
    response_class=RedirectResponse,
    status_code=302,
    summary="Use a one-time login link",
    description="Signs the visitor in (sets the session cookie) and redirects to "
    "`/library`. A link works once and expires; link previews (bots) cannot use it up.",
    dependencies=LOGIN_LIMIT,
)
def use_login_link(request: Request, token: str) -> Response:
    if views.is_bot(request.headers.get("user-agent")):
        raise Forbidden("open this link in a browser to sign in")
    with transaction(deps.runtime(request).factory) as session:
        user = accounts.redeem_login_link(session, token=token)
        signed = open_session(request, session, user)
    response = RedirectResponse("/library", status_code=302)
    set_session_cookie(request, response, signed)
    return response
