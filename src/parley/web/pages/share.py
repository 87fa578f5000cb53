"""The share page ``/c/{id}``, its short link ``/{id}`` and its forms (comments, save).

Contract:

* the short link ``GET /{id}`` is :class:`parley.web.pages.ShortLinks` (a fallback that
  answers only when no route matched);
* ``GET /c/{id}?node=<node id>&reply=<node id>`` renders the shared conversation through
  :mod:`parley.web.conversation_view` (``node`` picks another branch, see its contract;
  ``reply`` opens the comment form under that message). Who may see it is checked on
  every request (:func:`parley.social.visible_share`: a private share, or an unknown id,
  is a 404 for everyone but its owner); what it shows (the turns' HTML) is cached per
  snapshot, keyed by the share's id, ``updated_at`` and leaf, the owner's name, the
  conversation's ``update_time`` and message count and the requested node, so a popular
  page neither reloads nor re-renders its conversation. A view is recorded through the
  buffered counter ``runtime.views`` (never a write per view), once per visitor and day
  (:func:`parley.views.visitor_key`: the account, else address + user agent), and never
  for bots. Pages of shares that are not public carry ``noindex``;
* form endpoints (signed in, CSRF-checked, answered ``303`` back to the page):
  ``POST /c/{id}/comments`` (``node_id``, ``body``), ``POST /c/{id}/comments/{cid}/edit``
  (``body``), ``POST /c/{id}/comments/{cid}/delete``, ``POST /c/{id}/save``
  (``saved`` = ``1`` or ``0``). Lengths and permissions are :mod:`parley.social`'s.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse

from parley import social, views
from parley.render import safe_avatar, safe_url
from parley.store import comments as comments_store
from parley.store import conversations, users
from parley.store.db import transaction
from parley.web import conversation_view, deps
from parley.web.bodies import read_body
from parley.web.pages import field, notice, require_user, see_other
from parley.web.templating import ENV, page_user, render_page

router = APIRouter(tags=["pages"])

Body = Annotated[dict[str, Any], Depends(read_body)]
MAX_NODE_CHARS = 200
SNAPSHOT_ENTRIES = 256


def _record_view(request: Request, share_id: str, viewer_id: str | None) -> None:
    agent = request.headers.get("user-agent")
    if views.is_bot(agent):
        return
    visitor = views.visitor_key(
        user_id=viewer_id, address=deps.client_address(request), user_agent=agent
    )
    deps.runtime(request).views.record(share_id, visitor)


def _page_url(share_id: str, node: str = "", anchor: str = "", done: str = "") -> str:
    """Back to the share page, on the branch the form was posted from."""
    query = []
    if node:
        query.append(f"node={quote(node[:MAX_NODE_CHARS], safe='')}")
    if done:
        query.append(f"done={done}")
    url = f"/c/{quote(share_id, safe='')}" + ("?" + "&".join(query) if query else "")
    return url + (f"#{quote(anchor, safe='')}" if anchor else "")


@dataclass(frozen=True)
class Snapshot:
    """What a share page shows the same to everyone: the view and each turn's HTML."""

    view: conversation_view.ConversationView
    quiet: list[Markup]  # each turn's whole section while it has no comments
    inner: list[Markup]  # each turn's head and body, for a section with comments


class _Snapshots:
    """The most recently used snapshots, by a key that changes whenever their input does."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Snapshot | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, snapshot: Snapshot) -> None:
        with self._lock:
            self._items[key] = snapshot
            while len(self._items) > self.size:
                self._items.popitem(last=False)


SNAPSHOTS = _Snapshots(SNAPSHOT_ENTRIES)


def _stamp(session: Session, share: social.Share) -> tuple[Any, ...]:
    """What changes when the shared conversation's stored messages do (a re-import)."""
    if share.owner_id is None:
        return ()  # an anonymous post's conversation is never written again
    found = conversations.summaries(
        session, owner_id=share.owner_id, ids=[share.conversation_id], limit=1
    )
    return (found[0].update_time, found[0].message_count) if found else ()


def _snapshot(
    session: Session,
    share: social.Share,
    viewer_id: str | None,
    selected: str | None,
    owner_name: str,
) -> Snapshot:
    key = (share.id, share.updated_at, share.node_id, owner_name, _stamp(session, share), selected)
    found = SNAPSHOTS.get(key)
    if found is not None:
        return found
    shown = social.view_share(session, share_id=share.id, viewer_id=viewer_id)
    view = conversation_view.build(shown.conversation, share_leaf=shown.leaf, selected=selected)
    template = ENV.get_template("_turn.html")
    here = f"/c/{share.id}?" + (f"node={quote(view.leaf, safe='')}&" if view.leaf else "")
    context = {
        "share": share,
        "owner_initial": owner_name[:1].upper(),
        "here": here,
        "branches": f"/c/{share.id}",
    }
    snapshot = Snapshot(
        view,
        [Markup(template.render(turn=turn, quiet=True, **context)) for turn in view.turns],
        [Markup(template.render(turn=turn, quiet=False, **context)) for turn in view.turns],
    )
    SNAPSHOTS.put(key, snapshot)
    return snapshot


@router.get("/c/{share_id}", response_class=HTMLResponse)
def share_page(
    request: Request, share_id: str, node: str | None = None, reply: str | None = None
) -> HTMLResponse:
    """A shared conversation: one branch, with comments, saves and a branch switcher.

    `node` picks the branch (any node of it); `reply` opens the comment form on one message.
    """
    rt = deps.runtime(request)
    user = page_user(request)
    viewer_id = user.id if user else None
    selected = (node or "")[:MAX_NODE_CHARS] or None
    with transaction(rt.factory) as session:
        share = social.visible_share(session, share_id=share_id, viewer_id=viewer_id)
        owner = users.by_id(session, user_id=share.owner_id) if share.owner_id else None
        owner_name = owner.name if owner else "someone"
        snapshot = _snapshot(session, share, viewer_id, selected, owner_name)
        saved = viewer_id is not None and comments_store.is_saved(
            session, user_id=viewer_id, share_id=share.id
        )
        notes = social.comments_by_node(session, share_id=share_id)
    _record_view(request, share_id, viewer_id)
    avatar = safe_avatar(share.avatar)
    og_image = safe_url(avatar) if avatar and avatar.startswith("http") else None
    headers = {"Cache-Control": "private, no-cache"}
    if share.visibility != "public":
        headers["X-Robots-Tag"] = "noindex, nofollow"
    return render_page(
        request,
        "share.html",
        user=user,
        headers=headers,
        share=share,
        title=" ".join((share.title or "").split()) or "Untitled",
        view=snapshot.view,
        quiet=snapshot.quiet,
        inner=snapshot.inner,
        comments=notes,
        saved=saved,
        owner_name=owner_name,
        owner_initial=owner_name[:1].upper(),
        is_owner=user is not None and user.id == share.owner_id,
        avatar=avatar,
        og_image=og_image,
        canonical=f"{rt.settings.base_url}/c/{share.id}",
        max_comment=social.MAX_COMMENT_CHARS,
        reply=reply,
        notice=notice(request),
    )


@router.post("/c/{share_id}/comments", response_class=RedirectResponse, status_code=303)
def post_comment(request: Request, share_id: str, body: Body) -> RedirectResponse:
    """Form: comment on one message of a share (fields `node_id`, `body`, `csrf_token`)."""
    user = require_user(request)
    with transaction(deps.runtime(request).factory) as session:
        comment = social.add_comment(
            session,
            share_id=share_id,
            author_id=user.id,
            node_id=field(body, "node_id"),
            body=field(body, "body"),
        )
    return see_other(
        _page_url(share_id, field(body, "node"), f"comment-{comment.id}", done="commented")
    )


@router.post(
    "/c/{share_id}/comments/{comment_id}/edit", response_class=RedirectResponse, status_code=303
)
def edit_comment(request: Request, share_id: str, comment_id: str, body: Body) -> RedirectResponse:
    """Form: edit your own comment (fields `body`, `csrf_token`)."""
    user = require_user(request)
    with transaction(deps.runtime(request).factory) as session:
        social.edit_comment(
            session, comment_id=comment_id, user_id=user.id, body=field(body, "body")
        )
    return see_other(
        _page_url(share_id, field(body, "node"), f"comment-{comment_id}", done="edited")
    )


@router.post(
    "/c/{share_id}/comments/{comment_id}/delete", response_class=RedirectResponse, status_code=303
)
def delete_comment(
    request: Request, share_id: str, comment_id: str, body: Body
) -> RedirectResponse:
    """Form: delete a comment (your own, or any on a share you own)."""
    user = require_user(request)
    with transaction(deps.runtime(request).factory) as session:
        social.delete_comment(session, comment_id=comment_id, user_id=user.id)
    return see_other(_page_url(share_id, field(body, "node"), done="deleted"))


@router.post("/c/{share_id}/save", response_class=RedirectResponse, status_code=303)
def save_share(request: Request, share_id: str, body: Body) -> RedirectResponse:
    """Form: save (`saved=1`) or unsave (`saved=0`) a share."""
    user = require_user(request)
    saved = field(body, "saved", "1") != "0"
    with transaction(deps.runtime(request).factory) as session:
        social.set_saved(session, share_id=share_id, user_id=user.id, saved=saved)
    return see_other(_page_url(share_id, field(body, "node"), done="saved" if saved else "unsaved"))
