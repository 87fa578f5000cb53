"""Sharing conversations: share, update, view, list, feed and delete (service functions).

Contracts (see :mod:`parley.social` for the whole surface):

* visibility is ``private`` (the owner only), ``unlisted`` (anyone with the link; the
  default) or ``public`` (also in the explore feed, search and sitemaps). Whoever may not
  see a share gets NotFound, exactly as for an id that does not exist;
* one share per conversation: sharing again keeps the id and moves it to the new leaf;
* a share shows the path root -> leaf and the branches that existed when it was last
  shared (:func:`parley.store.shares.shared_node_ids`), never later turns. The
  conversation handed to pages is reduced to that, with the user's profile and memory
  blobs (``user_editable_context`` / ``model_editable_context``) blanked and only a few
  top-level keys kept;
* a share is deleted by its owner, by an admin (moderation), or, for an anonymous post,
  by whoever holds its manage token (compared as SHA-256 digests in constant time);
  deleting an anonymous post deletes its stored conversation too.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from parley import tree
from parley.errors import Forbidden, NotFound, Unprocessable
from parley.store import comments as comments_store
from parley.store import conversations, search, users
from parley.store import shares as store
from parley.store.shares import VISIBILITIES, FeedKind, Share, ShareMeta, Visibility

PAGE_SIZE = 50
MAX_TITLE_CHARS = 200
FEED_KINDS: tuple[FeedKind, ...] = ("new", "top", "trending")
PERSONAL_CONTENT_TYPES = frozenset({"user_editable_context", "model_editable_context"})
SHOWN_KEYS = ("create_time", "update_time", "default_model_slug")
ANONYMOUS_NAME = "sharegpt-anonymous"


@dataclass(frozen=True)
class ShareView:
    share: Share
    conversation: dict[str, Any]  # export shape, reduced to what the share shows
    leaf: str
    owner_name: str | None
    saved_by_viewer: bool


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_visibility(value: object) -> Visibility:
    if value not in VISIBILITIES:
        raise Unprocessable(f"visibility must be one of {', '.join(VISIBILITIES)}")
    return value


def clean_title(value: object) -> str | None:
    """A given title, whitespace-trimmed; None when absent; 422 when too long or not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Unprocessable("title must be a string")
    value = " ".join(value.split())
    if len(value) > MAX_TITLE_CHARS:
        raise Unprocessable(f"title is longer than {MAX_TITLE_CHARS} characters")
    return value or None


def shorten(text: str | None) -> str | None:
    """A derived title: one line, at most MAX_TITLE_CHARS (an ellipsis marks the cut)."""
    line = " ".join((text or "").split())
    if len(line) > MAX_TITLE_CHARS:
        line = line[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return line or None


def visible_share(session: Session, *, share_id: str, viewer_id: str | None) -> Share:
    """The share if the viewer may see it; NotFound otherwise (see the module contract)."""
    share = store.get(session, share_id=share_id)
    private = share is not None and share.visibility == "private"
    if share is None or (private and (share.owner_id is None or viewer_id != share.owner_id)):
        raise NotFound(f"no share {share_id!r}")
    return share


def _own_share(session: Session, *, share_id: str, user_id: str) -> Share:
    share = store.get(session, share_id=share_id)
    if share is None or share.owner_id is None or share.owner_id != user_id:
        raise NotFound(f"no share of yours with id {share_id!r}")
    return share


def share_conversation(
    session: Session,
    *,
    owner_id: str,
    conversation_id: str,
    node_id: str | None = None,
    visibility: Visibility | None = "unlisted",
    title: str | None = None,
) -> Share:
    """Share (or share again) one of the owner's conversations up to ``node_id``.

    ``node_id`` None shares the visible branch (``current_node``). On a share that exists,
    ``visibility`` None and ``title`` None keep what it had.
    """
    try:
        pk = conversations.get_pk(session, owner_id=owner_id, conversation_id=conversation_id)
    except NotFound:
        raise NotFound("no conversation with that id in your library") from None
    data = next(conversations.load_many(session, pks=[pk]))
    shape = tree.Tree.build(data.get("mapping"))
    if node_id is None:
        leaf = shape.resolve_current(data.get("current_node"))
        if leaf is None:
            raise Unprocessable("this conversation has no messages to share")
    elif node_id not in shape.nodes:
        raise NotFound(f"no message {node_id!r} in this conversation")
    else:
        leaf = node_id
    given = clean_title(title)
    now = time.time()
    existing = store.for_conversation(session, conversation_pk=pk)
    if existing is None:
        if not given:
            path = [shape.nodes[n].get("message") for n in shape.path_to(leaf)]
            first = tree.first_text(m for m in path if isinstance(m, dict))
            given = shorten(data.get("title") if isinstance(data.get("title"), str) else first)
        share_id = store.create(
            session,
            conversation_pk=pk,
            node_id=leaf,
            owner_id=owner_id,
            visibility=check_visibility(visibility or "unlisted"),
            title=given,
            model=data.get("default_model_slug"),
            now=now,
        )
    else:
        share_id = existing.id
        values: dict[str, Any] = {"node_id": leaf, "updated_at": now}
        if visibility is not None:
            values["visibility"] = check_visibility(visibility)
        if given:
            values["title"] = given
        store.set_fields(session, share_id=share_id, values=values)
    share = store.get(session, share_id=share_id)
    assert share is not None
    return share


def update_share(
    session: Session,
    *,
    share_id: str,
    user_id: str,
    visibility: Visibility | None = None,
    title: str | None = None,
    node_id: str | None = None,
) -> Share:
    """Change one of the caller's shares; a new ``node_id`` takes a new snapshot."""
    share = _own_share(session, share_id=share_id, user_id=user_id)
    values: dict[str, Any] = {}
    if visibility is not None:
        values["visibility"] = check_visibility(visibility)
    given = clean_title(title)
    if given:
        values["title"] = given
    if node_id is not None:
        if node_id not in store.node_shape(session, conversation_pk=share.conversation_pk).nodes:
            raise NotFound(f"no message {node_id!r} in this conversation")
        values.update(node_id=node_id, updated_at=time.time())
    store.set_fields(session, share_id=share_id, values=values)
    updated = store.get(session, share_id=share_id)
    assert updated is not None
    return updated


def view_share(session: Session, *, share_id: str, viewer_id: str | None) -> ShareView:
    """What a share page shows; NotFound unless the viewer may see it."""
    share = visible_share(session, share_id=share_id, viewer_id=viewer_id)
    data = next(conversations.load_many(session, pks=[share.conversation_pk]))
    shape = tree.Tree.build(data.get("mapping"))
    keep = store.shared_node_ids(shape, leaf=share.node_id, shared_at=share.updated_at)
    mapping = {
        node_id: _public_node(node, keep)
        for node_id, node in (data.get("mapping") or {}).items()
        if node_id in keep
    }
    conversation: dict[str, Any] = {key: data.get(key) for key in SHOWN_KEYS}
    conversation.update(id=share.id, title=share.title, current_node=share.node_id)
    conversation["mapping"] = mapping
    owner = users.by_id(session, user_id=share.owner_id) if share.owner_id else None
    saved = bool(viewer_id) and comments_store.is_saved(
        session, user_id=viewer_id or "", share_id=share.id
    )
    return ShareView(share, conversation, share.node_id, owner.name if owner else None, saved)


def _public_node(node: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    out = dict(node)
    if isinstance(out.get("children"), list):
        out["children"] = [kid for kid in out["children"] if kid in keep]
    if tree.content_type(out.get("message")) in PERSONAL_CONTENT_TYPES:
        out["message"] = None
    return out


def feed(
    session: Session, *, kind: FeedKind, page: int, search: str | None = None
) -> list[ShareMeta]:
    """Page ``page`` (1-based: items ``(page-1)*50 .. page*50``) of the public shares."""
    if kind not in FEED_KINDS:
        raise Unprocessable(f"type must be one of {', '.join(FEED_KINDS)}")
    if page < 1:
        raise Unprocessable("page starts at 1")
    ids = None
    if search and _words(search):
        ids = store.search_public(session, query=search)
        if not ids:
            return []
    return store.feed_page(
        session,
        kind=kind,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
        now=time.time(),
        ids=ids,
    )


def _words(query: str) -> list[str]:
    return search.words(query)


def my_shares(session: Session, *, user_id: str) -> list[ShareMeta]:
    """The user's shares, most recently shared first (every visibility)."""
    return store.owned(session, owner_id=user_id)


def my_saves(session: Session, *, user_id: str) -> list[ShareMeta]:
    """Shares the user saved and can still see, most recently saved first."""
    return store.saved_by(session, user_id=user_id)


def delete_share(
    session: Session, *, share_id: str, user_id: str | None, manage_token: str | None
) -> None:
    """Delete a share (see the module contract for who may)."""
    share = store.get(session, share_id=share_id)
    if share is None:
        raise NotFound(f"no share {share_id!r}")
    allowed = user_id is not None and user_id == share.owner_id
    if not allowed and manage_token:
        expected = store.manage_token_hash(session, share_id=share_id)
        allowed = expected is not None and hmac.compare_digest(expected, digest(manage_token))
    if not allowed and user_id is not None:
        caller = users.by_id(session, user_id=user_id)
        allowed = caller is not None and caller.is_admin
    if not allowed:
        if share.visibility == "private":
            raise NotFound(f"no share {share_id!r}")
        raise Forbidden(
            "only the owner, an admin or the holder of the share's manage token can delete it"
        )
    store.remove(session, share_id=share_id)
    if share.owner_id is None:
        anonymous = users.by_name(session, name=ANONYMOUS_NAME)
        if anonymous is not None:
            conversations.remove(
                session, owner_id=anonymous.id, conversation_id=share.conversation_id
            )
