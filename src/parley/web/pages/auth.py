"""Sign-in pages: log in, sign up, log out, and one-time sign-in links.

Contract:

* ``GET /login`` / ``GET /signup`` show the forms; ``POST`` them (fields ``name``,
  ``password``, ``next``, ``csrf_token``) to open a browser session: the session cookie
  is set (as by the JSON API) and the browser is sent to ``next`` (a same-site path
  only; default ``/library``). A failed attempt shows the form again with the reason
  (401 / 403 / 409 / 422), never saying which of name or password was wrong. Both count
  against the ``login`` rate limit (429 past it);
* before anyone is signed in, forms are protected by a double-submit token: a random
  value in the HttpOnly, SameSite=Strict cookie :data:`FORM_COOKIE` that the form must
  echo (403 otherwise), so another site cannot sign a browser into an account;
* ``POST /logout`` (CSRF-checked) ends the session and clears the cookie;
* one-time sign-in links (Parley sends no email: admins issue them) are redeemed by
  ``GET /auth/link/{token}`` in :mod:`parley.web.api.accounts`; a used or expired link
  shows the error page with the reason. The session cookie is set the same way here and
  there (:func:`parley.web.api.accounts.set_session_cookie`).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parley import accounts
from parley.errors import Forbidden, ParleyError
from parley.store.db import transaction
from parley.store.users import User
from parley.web import deps
from parley.web.api.accounts import open_session, set_session_cookie
from parley.web.bodies import read_body
from parley.web.pages import field, notice, safe_next, see_other
from parley.web.templating import render_page

router = APIRouter(tags=["pages"])

Body = Annotated[dict[str, Any], Depends(read_body)]
FORM_COOKIE = "parley_form"
LIMIT = [Depends(deps.rate_limit("login"))]


def _form_token(request: Request) -> tuple[str, bool]:
    """The pre-session form token, and whether it still has to be set as a cookie."""
    current = request.cookies.get(FORM_COOKIE, "")
    if len(current) == 43:
        return current, False
    return secrets.token_urlsafe(32), True


def _check_form_token(request: Request, body: dict[str, Any]) -> None:
    cookie = request.cookies.get(FORM_COOKIE, "")
    sent = field(body, "csrf_token")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise Forbidden("the form has expired or came from another site; reload the page")


def _secure(request: Request) -> bool:
    return deps.runtime(request).settings.base_url.startswith("https://")


def _form_page(
    request: Request, template: str, /, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    token, fresh = _form_token(request)
    response = render_page(
        request,
        template,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
        form_csrf=token,
        notice=notice(request),
        **context,
    )
    if fresh:
        response.set_cookie(
            FORM_COOKIE,
            token,
            max_age=86400,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/",
        )
    return response


def _signed_in(request: Request, user: User, target: str) -> RedirectResponse:
    with transaction(deps.runtime(request).factory) as session:
        opened = open_session(request, session, user)
    response = see_other(target)
    set_session_cookie(request, response, opened)
    response.delete_cookie(FORM_COOKIE, path="/")
    return response


def _with_done(target: str, done: str) -> str:
    path, _, anchor = target.partition("#")
    path += ("&" if "?" in path else "?") + f"done={done}"
    return path + (f"#{anchor}" if anchor else "")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/library") -> HTMLResponse:
    """The log-in form."""
    return _form_page(request, "login.html", next=safe_next(next), name="", error=None)


@router.post("/login", response_class=RedirectResponse, status_code=303, dependencies=LIMIT)
def login(request: Request, body: Body) -> Response:
    """Form: log in with name and password; sets the session cookie."""
    target = safe_next(field(body, "next"))
    name = field(body, "name")
    try:
        _check_form_token(request, body)
        with transaction(deps.runtime(request).factory) as session:
            user = accounts.authenticate(session, name=name, password=field(body, "password"))
    except ParleyError as error:
        return _form_page(
            request,
            "login.html",
            status_code=error.status,
            next=target,
            name=name,
            error=error.detail,
        )
    return _signed_in(request, user, _with_done(target, "signed-in"))


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, next: str = "/library") -> HTMLResponse:
    """The sign-up form."""
    return _form_page(
        request,
        "signup.html",
        next=safe_next(next),
        name="",
        error=None,
        min_password=accounts.MIN_PASSWORD,
    )


@router.post("/signup", response_class=RedirectResponse, status_code=303, dependencies=LIMIT)
def signup(request: Request, body: Body) -> Response:
    """Form: create an account with a name and password, and sign in."""
    rt = deps.runtime(request)
    target = safe_next(field(body, "next"))
    name = field(body, "name")
    try:
        _check_form_token(request, body)
        with transaction(rt.factory) as session:
            user = accounts.signup(
                session,
                name=name,
                password=field(body, "password"),
                allowed=rt.settings.allow_signup,
            )
    except ParleyError as error:
        return _form_page(
            request,
            "signup.html",
            status_code=error.status,
            next=target,
            name=name,
            error=error.detail,
            min_password=accounts.MIN_PASSWORD,
        )
    return _signed_in(request, user, _with_done(target, "welcome"))


@router.post("/logout", response_class=RedirectResponse, status_code=303)
def logout(request: Request, body: Body) -> RedirectResponse:
    """Form: end this browser's session."""
    token = request.cookies.get(deps.SESSION_COOKIE)
    if token and deps.identify(request) is not None:  # checks the CSRF token
        with transaction(deps.runtime(request).factory) as session:
            accounts.close_session(session, token=token)
    response = see_other("/explore?done=signed-out")
    response.delete_cookie(deps.SESSION_COOKIE, path="/")
    return response
