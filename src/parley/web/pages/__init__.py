"""The web UI: server-rendered HTML pages over the same core the JSON APIs use.

Contract:

* :func:`install` adds every page router to an app, and the short link ``GET /{id}``
  (``id`` = :data:`SHARE_ID_PATTERN`) -> ``302`` to ``/c/{id}`` as the router's fallback
  (:class:`ShortLinks`): it answers only when no route matched, so it never hides a route,
  whatever the order routes are added in (``/explore`` and ``/library`` are 7 letters
  too). The share page then decides what may be seen;
* pages are thin: they call :mod:`parley.social`, :mod:`parley.store` and
  :mod:`parley.web.conversation_view`, and hand view models to templates rendered by
  :func:`parley.web.templating.render_page`;
* every form is a plain ``POST`` answered by a ``303`` redirect (works without
  JavaScript); requests authenticated by the session cookie must carry the session's
  CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``), which
  :func:`parley.web.deps.require` checks once the body has been read (form routes
  declare the body dependency, then call :func:`require_user`); requests authenticated
  by an ``Authorization`` header need none;
* a browser that is not signed in is sent to ``/login?next=...`` by pages that need an
  account; any other client gets the usual 401 ``{"detail"}``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from parley.store.users import User
from parley.web import deps
from parley.web.errors import wants_html
from parley.web.routing import include
from parley.web.templating import page_user

SHARE_ID_PATTERN = "[0-9A-Za-z]{7}"
_SHORT_LINK = re.compile("/" + SHARE_ID_PATTERN)

# Fixed messages shown after a redirect (``?done=<key>``): user input is never reflected.
NOTICES = {
    "shared": "Shared. Copy the short link from the Sharing column.",
    "updated": "Share updated.",
    "unshared": "Share deleted: its link no longer works.",
    "removed": "Conversation deleted, with its messages and its share.",
    "saved": "Saved to your library.",
    "unsaved": "Removed from your saved conversations.",
    "commented": "Comment posted.",
    "edited": "Comment updated.",
    "deleted": "Comment deleted.",
    "imported": "Upload received: the import runs in the background.",
    "signed-in": "Signed in.",
    "signed-out": "Signed out.",
    "welcome": "Welcome to Parley: your account is ready.",
}


def notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


def see_other(url: str) -> RedirectResponse:
    """The answer to a form POST: go to ``url`` with GET."""
    return RedirectResponse(url, status_code=303)


_SAFE_NEXT = re.compile(r"/(?![/\\])[^\s\\]*")


def safe_next(target: Any, default: str = "/library") -> str:
    """A same-site path to go to after signing in; anything else becomes ``default``."""
    if isinstance(target, str) and len(target) <= 2000 and _SAFE_NEXT.fullmatch(target):
        return target
    return default


def login_redirect(request: Request) -> RedirectResponse:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)


def signed_in(request: Request) -> User | RedirectResponse:
    """The user for a page that needs one; a browser that has none is sent to log in."""
    user = page_user(request) if wants_html(request) else deps.require(request)
    if user is None:
        return login_redirect(request)
    return user


def require_user(request: Request) -> User:
    """The user behind a form POST whose body was read: deps checks its CSRF token."""
    return deps.require(request)


def field(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name, default)
    return value if isinstance(value, str) else default


class ShortLinks:
    """The router's fallback: ``GET``/``HEAD /{share id}`` -> ``/c/{id}``, else ``fallback``."""

    def __init__(self, fallback: ASGIApp) -> None:
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope.get("method") in ("GET", "HEAD")
            and _SHORT_LINK.fullmatch(path)
        ):
            await RedirectResponse(f"/c{path}", status_code=302)(scope, receive, send)
            return
        await self.fallback(scope, receive, send)


def install(app: FastAPI) -> None:
    """Add the pages and the short links to ``app`` (see the module contract)."""
    from parley.web.pages import auth, conversation, explore, library, seo, share

    for module in (explore, library, conversation, auth, seo, share):
        include(app, module.router)
    app.router.default = ShortLinks(app.router.default)
