"""The explore page: public shares, newest / top / trending, with search and pages.

Contract: ``GET /explore?type=new|top|trending&page=N&search=words`` lists page ``N``
(``(N-1)*PAGE_SIZE .. N*PAGE_SIZE``) of :func:`parley.social.feed`, which only ever
returns *public* shares (search is full text over those). An unknown ``type`` falls back
to ``new``; ``page`` below 1 is 1. Avatars pass :func:`parley.render.safe_avatar`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from parley import social
from parley.render import safe_avatar
from parley.store.db import transaction
from parley.web import deps
from parley.web.pages import notice
from parley.web.templating import render_page

router = APIRouter(tags=["pages"])

KINDS: tuple[tuple[str, str], ...] = (("new", "New"), ("top", "Top"), ("trending", "Trending"))
MAX_SEARCH_CHARS = 200
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Card:
    """One share in a list, ready for ``_share_card.html``."""

    id: str
    title: str | None
    avatar_url: str | None
    views: int
    saves: int
    comments: int
    created_at: float | None


def card(meta: Any) -> Card:
    """A card from anything with ShareMeta's fields (ShareMeta or Share)."""
    return Card(
        id=meta.id,
        title=" ".join((meta.title or "").split()) or None,
        avatar_url=safe_avatar(meta.avatar),
        views=int(meta.views or 0),
        saves=int(meta.saves or 0),
        comments=int(meta.comments or 0),
        created_at=meta.created_at,
    )


@router.get("/explore", response_class=HTMLResponse)
def explore_page(
    request: Request,
    type: str = "new",
    page: int = 1,
    search: str = "",
) -> HTMLResponse:
    """Public shared conversations: new, top or trending; searchable, 50 per page."""
    kind: Literal["new", "top", "trending"] = (
        type if type in ("new", "top", "trending") else "new"  # type: ignore[assignment]
    )
    page = min(max(page, 1), MAX_PAGE)
    words = " ".join(search.split())[:MAX_SEARCH_CHARS]
    with transaction(deps.runtime(request).factory) as session:
        items = social.feed(session, kind=kind, page=page, search=words or None)
    return render_page(
        request,
        "explore.html",
        headers={"Cache-Control": "private, no-cache"},
        kind=kind,
        kinds=KINDS,
        page=page,
        search=words,
        items=[card(item) for item in items],
        has_next=len(items) >= social.PAGE_SIZE,
        first_rank=(page - 1) * social.PAGE_SIZE + 1,
        notice=notice(request),
    )
