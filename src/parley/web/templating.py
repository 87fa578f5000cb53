"""Server-rendered pages: one Jinja2 environment and :func:`render_page`.

Contract:

* templates live in ``parley/web/templates`` and are rendered with autoescape on, so every
  value is escaped unless it is a :class:`markupsafe.Markup`; the only ``Markup`` values
  that carry user content are outputs of :mod:`parley.render` (views build them; templates
  never use ``|safe``);
* :func:`render_page` adds ``user`` (the signed-in user or None), ``csrf_token`` (for
  the hidden field of every form; None when nobody is signed in), ``settings`` and
  ``request`` to the context, and answers an :class:`HTMLResponse`;
* filters: ``render_text`` (plain user text through :func:`parley.render.render_text`,
  the only filter that yields ``Markup``), ``isodate`` (epoch seconds ->
  ``2024-05-01``), ``isotime`` (-> ISO 8601 UTC, for ``<time datetime>``), ``count``
  (``1234`` -> ``1.2k``), ``plural(noun)`` (-> ``1.2k views``); the global ``static(path)`` gives
  ``/static/<path>?v=<content hash>`` so browsers can cache assets for good, and
  ``conversation_url(id)`` the owner's page of a conversation.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from parley.errors import Forbidden, Unauthorized
from parley.render import render_text
from parley.store.users import User
from parley.web import deps

WEB = Path(__file__).parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def isodate(value: Any) -> str:
    """Epoch seconds as ``YYYY-MM-DD`` (UTC); empty for a missing or impossible time."""
    moment = _epoch(value)
    return moment.strftime("%Y-%m-%d") if moment else ""


def isotime(value: Any) -> str:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC); empty when unusable."""
    moment = _epoch(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def count(value: Any) -> str:
    """Compact counts: ``999``, ``1.2k``, ``3.4M``."""
    number = int(value or 0)
    if number < 1000:
        return str(number)
    if number < 1_000_000:
        return f"{number / 1000:.1f}k".replace(".0k", "k")
    return f"{number / 1_000_000:.1f}M".replace(".0M", "M")


def plural(value: Any, noun: str) -> str:
    """``1 view``, ``2 views``, ``1.2k views``."""
    return f"{count(value)} {noun}{'' if int(value or 0) == 1 else 's'}"


def conversation_url(conversation_id: str) -> str:
    """The owner's page of a conversation (any id: every character is escaped)."""
    return "/library/c/" + quote(conversation_id, safe="")


@lru_cache(maxsize=64)
def static(path: str) -> str:
    """URL of a static asset with a content hash, so it can be cached forever."""
    file = (STATIC / path).resolve()
    if STATIC.resolve() not in file.parents or not file.is_file():
        raise ValueError(f"no static asset {path!r}")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        auto_reload=False,
    )
    env.filters["isodate"] = isodate
    env.filters["isotime"] = isotime
    env.filters["count"] = count
    env.filters["plural"] = plural
    env.filters["render_text"] = lambda value: Markup(render_text(str(value or "")))
    env.globals["static"] = static
    env.globals["conversation_url"] = conversation_url
    return env


ENV = _environment()


def page_user(request: Request) -> User | None:
    """The signed-in user, or None (a stale or bad credential on a page is just anonymous)."""
    try:
        return deps.identify(request)
    except (Unauthorized, Forbidden):
        return None


def render_page(
    request: Request,
    name: str,
    /,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``templates/<name>`` with the common context; see the module contract."""
    user = context.pop("user", None) or page_user(request)
    token = deps.csrf_token_for(request) if user is not None else None
    context.setdefault("notice", None)
    html = ENV.get_template(name).render(
        request=request,
        user=user,
        csrf_token=token,
        settings=deps.runtime(request).settings,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)


def render_error(request: Request, status: int, detail: str) -> HTMLResponse:
    """The error page; touches no database (it may be the database that failed)."""
    html = ENV.get_template("error.html").render(
        request=request,
        user=None,
        csrf_token=None,
        settings=deps.runtime(request).settings,
        notice=None,
        status=status,
        detail=detail,
    )
    return HTMLResponse(html, status_code=status)
