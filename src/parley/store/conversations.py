"""The conversation store: one owner's conversations as trees of immutable messages.

Invariants:

* a conversation is identified by ``(owner_id, id)``; the same export imported by two
  users gives two independent copies;
* a message row, once written, only changes when a newer import of the same node
  differs; nodes that a newer import no longer has are kept (nothing is lost);
* :func:`save` is idempotent: saving the same content again (same ``content_hash``) writes
  nothing; saving a changed conversation merges it node by node; an import older than
  what is stored (smaller ``update_time``) is ignored;
* :func:`load` returns the export shape, and ``load(save(x)) == x`` for every
  conversation :func:`parley.store.rows.explode` accepts.

Every function takes the session first and never commits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal, NamedTuple

import orjson
from sqlalchemy import ColumnElement, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from parley.errors import NotFound
from parley.store import direct
from parley.store.direct import Db, Query
from parley.store.messages import as_text, insert_many, insert_messages
from parley.store.rows import CONVERSATION_COLUMNS, Exploded, assemble
from parley.store.tables import conversation_counts, conversations, messages

Outcome = Literal["imported", "updated", "unchanged"]
Order = Literal["updated", "created"]


class Summary(NamedTuple):
    """A conversation's list-view fields."""

    pk: int
    id: str
    title: str | None
    create_time: float | None
    update_time: float | None
    is_archived: bool
    is_starred: bool
    default_model_slug: str | None
    message_count: int
    gizmo_id: str | None
    template_id: str | None


_SUMMARY_COLUMNS = tuple(conversations.c[name] for name in Summary._fields)


def save_many(
    session: Session,
    *,
    owner_id: str,
    items: Sequence[Exploded],
    binding: AbstractContextManager[Any] = nullcontext(),
) -> list[Outcome]:
    """Store a batch of conversations; one outcome per item, in order.

    New conversations' rows are handed to the driver inside ``binding`` (a lock the
    caller shares with a Python-bound thread, say), the statements that index them
    outside it.
    """
    ids = list({item.id for item in items})
    existing = {
        row.id: row
        for row in session.execute(
            select(
                conversations.c.pk,
                conversations.c.id,
                conversations.c.content_hash,
                conversations.c.update_time,
            ).where(conversations.c.owner_id == owner_id, conversations.c.id.in_(ids))
        )
    }
    fresh: dict[str, Exploded] = {}
    for item in items:
        if item.id not in existing and item.id not in fresh:
            fresh[item.id] = item
    if fresh:
        _insert(session, owner_id=owner_id, items=list(fresh.values()), binding=binding)
    outcomes: list[Outcome] = []
    for item in items:
        if fresh.get(item.id) is item:
            outcomes.append("imported")
        else:
            outcomes.append(save(session, owner_id=owner_id, item=item))
    return outcomes


def _insert(
    session: Session,
    *,
    owner_id: str,
    items: list[Exploded],
    binding: AbstractContextManager[Any] = nullcontext(),
) -> None:
    """Insert new conversations and their messages, a statement per table.

    On SQLite the rows go straight to the driver's executemany: the first insert takes
    the write lock, so the new rowids are the ``len(items)`` after the previous largest,
    in order. Elsewhere an ``INSERT ... RETURNING`` gives them.
    """
    d = direct.of(session)
    if d.is_sqlite:
        marker = d.marker
        with binding:
            d.many(
                f"INSERT INTO conversations (owner_id, {', '.join(CONVERSATION_COLUMNS)}) "
                f"VALUES ({', '.join([marker] * (len(CONVERSATION_COLUMNS) + 1))})",
                [(owner_id, *[item.row[key] for key in CONVERSATION_COLUMNS]) for item in items],
            )
        last = int(d.sql("SELECT max(pk) FROM conversations")[0][0])
        pks: list[int] = list(range(last - len(items) + 1, last + 1))
    else:
        result = session.execute(
            insert(conversations).returning(conversations.c.pk, sort_by_parameter_order=True),
            [{**item.row, "owner_id": owner_id} for item in items],
        )
        pks = list(result.scalars().all())
    rows: list[tuple[Any, ...]] = []
    for pk, item in zip(pks, items, strict=True):
        rows += [(pk, *message) for message in item.messages]
    insert_many(session, rows=rows, binding=binding)


def save(session: Session, *, owner_id: str, item: Exploded) -> Outcome:
    """Insert or merge one conversation (see the module invariants)."""
    current = session.execute(
        select(conversations.c.pk, conversations.c.content_hash, conversations.c.update_time).where(
            conversations.c.owner_id == owner_id, conversations.c.id == item.id
        )
    ).first()
    if current is None:
        _insert(session, owner_id=owner_id, items=[item])
        return "imported"
    if item.row["content_hash"] is not None and current.content_hash == item.row["content_hash"]:
        return "unchanged"
    incoming = item.row["update_time"]
    if current.update_time is not None and incoming is not None and incoming < current.update_time:
        return "unchanged"
    changed = _merge_messages(session, pk=current.pk, item=item)
    stored = session.execute(select(conversations).where(conversations.c.pk == current.pk)).one()
    values = {
        key: value
        for key, value in item.row.items()
        if key not in ("id", "source", "message_count") and stored._mapping[key] != value
    }
    if changed:
        values["message_count"] = _count_messages(session, pk=current.pk)
    if values:
        session.execute(update(conversations).where(conversations.c.pk == current.pk), values)
    if changed or set(values) - {"content_hash"}:
        return "updated"
    return "unchanged"


def _merge_messages(session: Session, *, pk: int, item: Exploded) -> bool:
    stored = {
        row.node_id: row
        for row in session.execute(
            select(
                messages.c.pk,
                messages.c.node_id,
                messages.c.parent_id,
                messages.c.position,
                messages.c.message,
                messages.c.node_extra,
            ).where(messages.c.conversation_pk == pk)
        )
    }
    new_rows = []
    changed = False
    for row in item.messages:
        old = stored.get(row.node_id)
        if old is None:
            new_rows.append(row)
            continue
        message, node_extra = as_text(row.message), as_text(row.node_extra)
        if (old.parent_id, old.position, old.message, old.node_extra) != (
            row.parent_id,
            row.position,
            message,
            node_extra,
        ):
            values = {**row._asdict(), "message": message, "node_extra": node_extra}
            session.execute(update(messages).where(messages.c.pk == old.pk), values)
            changed = True
    insert_messages(session, pk=pk, rows=new_rows)
    return changed or bool(new_rows)


def _count_messages(session: Session, *, pk: int) -> int:
    return session.execute(
        select(func.count())
        .select_from(messages)
        .where(messages.c.conversation_pk == pk, messages.c.message.is_not(None))
    ).scalar_one()


_GET_PK = Query(
    select(conversations.c.pk).where(
        conversations.c.owner_id == bindparam("owner_id"),
        conversations.c.id == bindparam("conversation_id"),
    )
)


def get_pk(db: Db, *, owner_id: str, conversation_id: str) -> int:
    pk = direct.of(db).scalar(_GET_PK, owner_id=owner_id, conversation_id=conversation_id)
    if pk is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    return int(pk)


# What assemble() needs of a conversation row, and of its node rows.
_ROW_COLUMNS = ("pk", "extra", "title", "update_time", "current_node", "is_archived", "is_starred")
_NODE_COLUMNS = (
    messages.c.node_id,
    messages.c.parent_id,
    messages.c.position,
    messages.c.message,
    messages.c.node_extra,
)
_ROW = Query(
    select(*(conversations.c[name] for name in _ROW_COLUMNS)).where(
        conversations.c.pk == bindparam("pk")
    )
)
_NODES = Query(
    select(*_NODE_COLUMNS)
    .where(messages.c.conversation_pk == bindparam("pk"))
    .order_by(messages.c.pk)
)


def _row_dict(row: Sequence[Any]) -> dict[str, Any]:
    found = dict(zip(_ROW_COLUMNS, row, strict=True))
    found["is_archived"] = bool(found["is_archived"])
    found["is_starred"] = bool(found["is_starred"])
    return found


def load(db: Db, *, owner_id: str, conversation_id: str) -> dict[str, Any]:
    """One conversation in the export shape; NotFound if the owner has no such id."""
    return _load(db, owner_id=owner_id, conversation_id=conversation_id, message=orjson.loads)


def load_json(db: Db, *, owner_id: str, conversation_id: str) -> dict[str, Any]:
    """:func:`load`, with each message left as its stored JSON (an ``orjson.Fragment``):
    the shape to serialize again, without parsing what is only copied through."""
    return _load(db, owner_id=owner_id, conversation_id=conversation_id, message=orjson.Fragment)


def _load(db: Db, *, owner_id: str, conversation_id: str, message: Any) -> dict[str, Any]:
    d = direct.of(db)
    pk = get_pk(d, owner_id=owner_id, conversation_id=conversation_id)
    row = d.first(_ROW, pk=pk)
    assert row is not None  # same snapshot as get_pk
    return assemble(_row_dict(row), d.all(_NODES, pk=pk), message=message)


def load_many(session: Session, *, pks: Sequence[int]) -> Iterator[dict[str, Any]]:
    """Export-shape conversations for ``pks``, in that order, a query per 200."""
    for start in range(0, len(pks), 200):
        chunk = list(pks[start : start + 200])
        rows = {
            row.pk: _row_dict(row)
            for row in session.execute(
                select(*(conversations.c[name] for name in _ROW_COLUMNS)).where(
                    conversations.c.pk.in_(chunk)
                )
            )
        }
        nodes: dict[int, list[Sequence[Any]]] = {pk: [] for pk in chunk}
        for m in session.execute(
            select(messages.c.conversation_pk, *_NODE_COLUMNS)
            .where(messages.c.conversation_pk.in_(chunk))
            .order_by(messages.c.conversation_pk, messages.c.pk)
        ):
            nodes[m[0]].append(m[1:])
        for pk in chunk:
            if pk in rows:
                yield assemble(rows[pk], nodes[pk])


def _filters(
    *, archived: bool, since: bool, until: bool, ids: Sequence[str] | None
) -> list[ColumnElement[bool]]:
    where = [conversations.c.owner_id == bindparam("owner_id")]
    if archived:
        where.append(conversations.c.is_archived == bindparam("is_archived"))
    if since:
        where.append(conversations.c.create_time >= bindparam("since"))
    if until:
        where.append(conversations.c.create_time < bindparam("until"))
    if ids is not None:
        where.append(conversations.c.id.in_(list(ids)))
    return where


def _newest_first(order: Order, dialect: str) -> tuple[ColumnElement[Any], ...]:
    """Newest first, undated last. SQLite sorts NULL lowest, so a plain DESC does that and
    walks the (owner, time) index backwards; spelled NULLS LAST it would sort instead."""
    key = conversations.c.update_time if order == "updated" else conversations.c.create_time
    return (
        key.desc() if dialect == "sqlite" else key.desc().nulls_last(),
        conversations.c.pk.desc(),
    )


# The columns of a list page (parley.rawlist.list_items), in this order.
LIST_COLUMNS = (
    "id",
    "title",
    "create_time",
    "update_time",
    "is_archived",
    "is_starred",
    "default_model_slug",
    "gizmo_id",
    "template_id",
)


@functools.cache
def _page_query(
    order: Order, archived: bool, since: bool, until: bool, columns: tuple[str, ...]
) -> Query:
    return Query(
        lambda dialect: (
            select(*(conversations.c[name] for name in columns))
            .where(*_filters(archived=archived, since=since, until=until, ids=None))
            .order_by(*_newest_first(order, dialect))
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )
    )


@functools.cache
def _count_query(archived: bool, since: bool, until: bool) -> Query:
    return Query(
        select(func.count())
        .select_from(conversations)
        .where(*_filters(archived=archived, since=since, until=until, ids=None))
    )


def _summary(r: Sequence[Any]) -> Summary:
    # SQLite stores booleans as 0/1; ``== 1`` turns those and PostgreSQL's bools into bools
    return Summary(r[0], r[1], r[2], r[3], r[4], r[5] == 1, r[6] == 1, r[7], r[8], r[9], r[10])


def summaries(
    db: Db,
    *,
    owner_id: str,
    offset: int = 0,
    limit: int = 100,
    order: Order = "updated",
    is_archived: bool | None = None,
    since: float | None = None,
    until: float | None = None,
    ids: Sequence[str] | None = None,
) -> list[Summary]:
    """A page of the owner's conversations, newest first (one indexed query)."""
    params = {
        "owner_id": owner_id,
        "is_archived": is_archived,
        "since": since,
        "until": until,
        "limit": limit,
        "offset": offset,
    }
    if ids is not None:  # a one-off list: through SQLAlchemy, which expands it
        session = db if isinstance(db, Session) else None
        assert session is not None, "filtering by ids needs a Session"
        statement = (
            select(*_SUMMARY_COLUMNS)
            .where(
                *_filters(
                    archived=is_archived is not None,
                    since=since is not None,
                    until=until is not None,
                    ids=ids,
                )
            )
            .order_by(*_newest_first(order, session.get_bind().dialect.name))
            .limit(limit)
            .offset(offset)
        )
        used = {k: v for k, v in params.items() if k not in ("limit", "offset")}
        return [_summary(row) for row in session.execute(statement, used)]
    query = _page_query(
        order, is_archived is not None, since is not None, until is not None, Summary._fields
    )
    return [_summary(row) for row in direct.of(db).all(query, **params)]


def list_rows(
    db: Db,
    *,
    owner_id: str,
    offset: int = 0,
    limit: int = 100,
    order: Order = "updated",
    is_archived: bool | None = None,
) -> list[tuple[Any, ...]]:
    """A page as :func:`summaries` orders it, as plain rows of :data:`LIST_COLUMNS`
    (booleans as the driver gives them): what a list endpoint renders, and no more."""
    query = _page_query(order, is_archived is not None, False, False, LIST_COLUMNS)
    return direct.of(db).all(
        query, owner_id=owner_id, is_archived=is_archived, limit=limit, offset=offset
    )


_COUNTS = Query(
    select(conversation_counts.c.total, conversation_counts.c.archived).where(
        conversation_counts.c.owner_id == bindparam("owner_id")
    )
)


def count(
    db: Db,
    *,
    owner_id: str,
    is_archived: bool | None = None,
    since: float | None = None,
    until: float | None = None,
) -> int:
    """How many of the owner's conversations match: read from ``conversation_counts``
    unless a time range is given."""
    if since is None and until is None:
        row = direct.of(db).first(_COUNTS, owner_id=owner_id)
        total, archived = (int(row[0]), int(row[1])) if row else (0, 0)
        if is_archived is None:
            return total
        return archived if is_archived else total - archived
    query = _count_query(is_archived is not None, since is not None, until is not None)
    found = direct.of(db).scalar(
        query, owner_id=owner_id, is_archived=is_archived, since=since, until=until
    )
    return int(found or 0)


def set_fields(
    session: Session,
    *,
    owner_id: str,
    conversation_id: str,
    title: str | None = None,
    is_archived: bool | None = None,
    is_starred: bool | None = None,
) -> None:
    values: dict[str, Any] = {}
    if title is not None:
        values["title"] = title
    if is_archived is not None:
        values["is_archived"] = is_archived
    if is_starred is not None:
        values["is_starred"] = is_starred
    pk = get_pk(session, owner_id=owner_id, conversation_id=conversation_id)
    if values:
        session.execute(update(conversations).where(conversations.c.pk == pk), values)


def remove(session: Session, *, owner_id: str, conversation_id: str) -> None:
    """Delete one conversation and its messages; NotFound if the owner has no such id."""
    pk = get_pk(session, owner_id=owner_id, conversation_id=conversation_id)
    session.execute(delete(messages).where(messages.c.conversation_pk == pk))
    session.execute(delete(conversations).where(conversations.c.pk == pk))


def remove_all(session: Session, *, owner_id: str) -> int:
    """Delete every conversation of one owner; returns how many there were."""
    owned = select(conversations.c.pk).where(conversations.c.owner_id == owner_id)
    session.execute(delete(messages).where(messages.c.conversation_pk.in_(owned)))
    result = session.execute(delete(conversations).where(conversations.c.owner_id == owner_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
