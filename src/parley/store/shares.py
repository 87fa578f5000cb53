"""Shares: rows, feeds and the public full-text search (repository functions).

Invariants:

* one share per conversation (``uq_shares_conversation``): sharing again updates the row
  and keeps its id; ids are 7 base62 characters from :mod:`secrets` (unguessable);
* feeds and :func:`search_public` only ever return ``public`` shares; nothing here decides
  who may see a private or unlisted share (``parley.social`` does);
* :func:`add_views` is the only writer of ``views``: one ``UPDATE`` per share per flush;
* ``updated_at`` is when the shared content was last set (sharing, re-sharing, moving the
  leaf), not touched by title or visibility changes. What a share shows is
  :func:`shared_node_ids`: the path root -> ``node_id`` plus other branches that already
  existed at ``updated_at``, never anything below ``node_id``. Search matches only those
  messages (and never hidden ones).

Every function takes the session first and never commits.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, bindparam, delete, func, literal, select, text, update
from sqlalchemy.orm import Session

from parley import tree
from parley.store import search
from parley.store.tables import conversations, messages, saves, shares

Visibility = Literal["private", "unlisted", "public"]
VISIBILITIES: tuple[Visibility, ...] = ("private", "unlisted", "public")
FeedKind = Literal["new", "top", "trending"]
ID_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 7
SEARCH_CANDIDATES = 2000
TRENDING_WEIGHTS = {"views": 1, "saves": 4, "comments": 2}  # per hour of age, squared


@dataclass(frozen=True)
class Share:
    id: str
    conversation_id: str
    node_id: str
    owner_id: str | None
    visibility: str
    title: str | None
    avatar: str | None
    model: str | None
    created_at: float
    updated_at: float
    views: int
    saves: int
    comments: int
    conversation_pk: int = 0


@dataclass(frozen=True)
class ShareMeta:
    """A share as feeds and lists show it (the seed's ConversationMeta, plus visibility)."""

    id: str
    title: str | None
    avatar: str | None
    saves: int
    comments: int
    views: int
    created_at: float
    visibility: str = "public"
    conversation_id: str | None = None  # set in the owner's own lists only


_SHARE_COLUMNS = (
    shares.c.id,
    conversations.c.id.label("conversation_id"),
    shares.c.node_id,
    shares.c.owner_id,
    shares.c.visibility,
    shares.c.title,
    shares.c.avatar,
    shares.c.model,
    shares.c.created_at,
    shares.c.updated_at,
    shares.c.views,
    shares.c.saves,
    shares.c.comments,
    shares.c.conversation_pk,
)
_META_COLUMNS = (
    shares.c.id,
    shares.c.title,
    shares.c.avatar,
    shares.c.saves,
    shares.c.comments,
    shares.c.views,
    shares.c.created_at,
    shares.c.visibility,
)


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def _select_share() -> Select[Any]:
    return select(*_SHARE_COLUMNS).join(
        conversations, conversations.c.pk == shares.c.conversation_pk
    )


def get(session: Session, *, share_id: str) -> Share | None:
    row = session.execute(_select_share().where(shares.c.id == share_id)).first()
    return Share(**row._asdict()) if row else None


def for_conversation(session: Session, *, conversation_pk: int) -> Share | None:
    row = session.execute(
        _select_share().where(shares.c.conversation_pk == conversation_pk)
    ).first()
    return Share(**row._asdict()) if row else None


def create(
    session: Session,
    *,
    conversation_pk: int,
    node_id: str,
    owner_id: str | None,
    visibility: Visibility,
    title: str | None,
    avatar: str | None = None,
    model: str | None = None,
    manage_token_hash: str | None = None,
    now: float,
) -> str:
    """Insert a share under a fresh id (retrying the unlikely collision); returns the id."""
    share_id = new_id()
    while session.execute(select(shares.c.id).where(shares.c.id == share_id)).first():
        share_id = new_id()
    session.execute(
        shares.insert().values(
            id=share_id,
            conversation_pk=conversation_pk,
            node_id=node_id,
            owner_id=owner_id,
            manage_token_hash=manage_token_hash,
            visibility=visibility,
            title=title,
            avatar=avatar,
            model=model,
            created_at=now,
            updated_at=now,
            views=0,
            saves=0,
            comments=0,
        )
    )
    return share_id


def set_fields(session: Session, *, share_id: str, values: Mapping[str, Any]) -> None:
    if values:
        session.execute(update(shares).where(shares.c.id == share_id).values(**values))


def remove(session: Session, *, share_id: str) -> None:
    session.execute(delete(shares).where(shares.c.id == share_id))


def manage_token_hash(session: Session, *, share_id: str) -> str | None:
    value = session.execute(
        select(shares.c.manage_token_hash).where(shares.c.id == share_id)
    ).scalar()
    return str(value) if value else None


def bump(session: Session, *, share_id: str, column: str, delta: int) -> None:
    """Add ``delta`` to the ``saves`` or ``comments`` counter, atomically in SQL."""
    assert column in ("saves", "comments")
    counter = shares.c[column]
    session.execute(update(shares).where(shares.c.id == share_id).values({column: counter + delta}))


def add_views(session: Session, *, counts: Mapping[str, int]) -> None:
    """Add buffered view counts; one statement, rows in id order (no deadlock between flushes)."""
    rows = [{"sid": sid, "n": n} for sid, n in sorted(counts.items()) if n > 0]
    if rows:
        session.execute(
            update(shares)
            .where(shares.c.id == bindparam("sid"))
            .values(views=shares.c.views + bindparam("n")),
            rows,
            execution_options={"synchronize_session": False},
        )


# --- Lists and feeds --------------------------------------------------------------------


def _metas(session: Session, query: Select[Any]) -> list[ShareMeta]:
    return [ShareMeta(**row._asdict()) for row in session.execute(query)]


def feed_page(
    session: Session,
    *,
    kind: FeedKind,
    offset: int,
    limit: int,
    now: float,
    ids: Sequence[str] | None = None,
) -> list[ShareMeta]:
    """Public shares, ordered by ``kind``, optionally only those in ``ids``."""
    query = select(*_META_COLUMNS).where(shares.c.visibility == "public")
    if ids is not None:
        query = query.where(shares.c.id.in_(list(ids)))
    if kind == "new":
        order = [shares.c.created_at.desc()]
    elif kind == "top":
        order = [shares.c.views.desc(), shares.c.created_at.desc()]
    else:
        hours = (literal(now) - shares.c.created_at) / 3600.0 + 2.0
        weights = TRENDING_WEIGHTS
        score = (
            shares.c.views * weights["views"]
            + shares.c.saves * weights["saves"]
            + shares.c.comments * weights["comments"]
        ) / (hours * hours)
        order = [score.desc(), shares.c.created_at.desc()]
    query = query.order_by(*order, shares.c.id).offset(offset).limit(limit)
    return _metas(session, query)


def owned(session: Session, *, owner_id: str) -> list[ShareMeta]:
    query = (
        select(*_META_COLUMNS, conversations.c.id.label("conversation_id"))
        .join(conversations, conversations.c.pk == shares.c.conversation_pk)
        .where(shares.c.owner_id == owner_id)
        .order_by(shares.c.updated_at.desc(), shares.c.id)
    )
    return _metas(session, query)


def saved_by(session: Session, *, user_id: str) -> list[ShareMeta]:
    """Shares the user saved and may still see (another's share turned private drops out)."""
    query = (
        select(*_META_COLUMNS)
        .join(saves, saves.c.share_id == shares.c.id)
        .where(saves.c.user_id == user_id)
        .where((shares.c.visibility != "private") | (shares.c.owner_id == user_id))
        .order_by(saves.c.created_at.desc(), shares.c.id)
    )
    return _metas(session, query)


# --- What a share shows -----------------------------------------------------------------


def shared_node_ids(shape: tree.Tree, *, leaf: str, shared_at: float) -> set[str]:
    """The nodes a share shows (see the module invariants); empty if ``leaf`` is unknown."""
    if leaf not in shape.nodes:
        return set()
    path = set(shape.path_to(leaf))

    def created(node_id: str) -> float | None:
        message = shape.nodes[node_id].get("message")
        value = message.get("create_time") if isinstance(message, dict) else None
        return float(value) if isinstance(value, int | float) else None

    keep: set[str] = set()
    stack = [node for node in shape.roots if node in path or _before(created(node), shared_at)]
    while stack:
        node_id = stack.pop()
        keep.add(node_id)
        if node_id == leaf:
            continue  # nothing below the leaf is shared
        for kid in shape.children[node_id]:
            if kid in path or _before(created(kid), shared_at):
                stack.append(kid)
    return keep


def _before(created: float | None, shared_at: float) -> bool:
    return created is not None and created <= shared_at


def node_shape(session: Session, *, conversation_pk: int) -> tree.Tree:
    """The tree of one conversation without message bodies (ids, parents, times)."""
    rows = session.execute(
        select(messages.c.node_id, messages.c.parent_id, messages.c.create_time, messages.c.pk)
        .where(messages.c.conversation_pk == conversation_pk)
        .order_by(messages.c.pk)
    )
    mapping = {
        row.node_id: {"parent": row.parent_id, "message": {"create_time": row.create_time}}
        for row in rows
    }
    return tree.Tree.build(mapping)


# --- Search -----------------------------------------------------------------------------


def search_public(session: Session, *, query: str, limit: int = SEARCH_CANDIDATES) -> list[str]:
    """Ids of public shares whose title, or one shared visible message, has every word.

    Message matches come from the full-text index (FTS5 / tsvector, with stemming) and are
    kept only when the message is one the share shows; title matches are substring matches
    of every word. At most ``limit`` candidate messages are considered.
    """
    words = search.words(query)
    if not words:
        return []
    title_query = select(shares.c.id).where(shares.c.visibility == "public")
    for word in words:
        pattern = "%" + word.lower().replace("\\", "\\\\").replace("_", "\\_") + "%"
        title_query = title_query.where(func.lower(shares.c.title).like(pattern, escape="\\"))
    found = [row.id for row in session.execute(title_query)]
    hits = _message_hits(session, words=words, limit=limit)
    by_share: dict[str, list[Any]] = {}
    for hit in hits:
        by_share.setdefault(hit.id, []).append(hit)
    for share_id, share_hits in by_share.items():
        if share_id in found:
            continue
        first = share_hits[0]
        shape = node_shape(session, conversation_pk=first.conversation_pk)
        shown = shared_node_ids(shape, leaf=first.node_id, shared_at=first.updated_at)
        if any(hit.hit_node in shown for hit in share_hits):
            found.append(share_id)
    return found


def _message_hits(session: Session, *, words: Iterable[str], limit: int) -> list[Any]:
    columns = (
        "s.id, s.conversation_pk, s.node_id, s.updated_at, m.node_id AS hit_node "
        "FROM messages m JOIN shares s ON s.conversation_pk = m.conversation_pk "
    )
    if session.get_bind().dialect.name == "sqlite":
        sql = (
            f"SELECT {columns}JOIN messages_fts ON messages_fts.rowid = m.pk "
            "WHERE messages_fts MATCH :q AND s.visibility = 'public' AND m.hidden = 0 LIMIT :n"
        )
        params: dict[str, Any] = {"q": search.fts5_query(" ".join(words)), "n": limit}
    else:
        sql = (
            f"SELECT {columns}WHERE m.text_tsv @@ plainto_tsquery('english', :q) "
            "AND s.visibility = 'public' AND NOT m.hidden LIMIT :n"
        )
        params = {"q": " ".join(words), "n": limit}
    return list(session.execute(text(sql), params))
