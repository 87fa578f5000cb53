"""The conversation store: one owner's conversations as trees of immutable messages.

Invariants:

* a conversation is identified by ``(owner_id, id)``; the same export imported by two
  users gives two independent copies;
* a message row, once written, only changes when a newer import of the same node
  differs; nodes that a newer import no longer has are kept (nothing is lost);
* :func:`save` is idempotent: saving the same bytes again (same ``content_hash``) writes
  nothing; saving a changed conversation merges it node by node; an import older than
  what is stored (smaller ``update_time``) is ignored;
* :func:`load` returns the export shape, and ``load(save(x)) == x`` for every
  conversation :func:`parley.store.rows.explode` accepts.

Every function takes the session first and never commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.orm import Session

from parley.errors import NotFound
from parley.store.rows import Exploded, assemble
from parley.store.tables import conversations, messages

Outcome = Literal["imported", "updated", "unchanged"]
Order = Literal["updated", "created"]


@dataclass(frozen=True)
class Summary:
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


_SUMMARY_COLUMNS = (
    conversations.c.pk,
    conversations.c.id,
    conversations.c.title,
    conversations.c.create_time,
    conversations.c.update_time,
    conversations.c.is_archived,
    conversations.c.is_starred,
    conversations.c.default_model_slug,
    conversations.c.message_count,
    conversations.c.gizmo_id,
    conversations.c.template_id,
)


def save_many(session: Session, *, owner_id: str, items: Sequence[Exploded]) -> list[Outcome]:
    """Store a batch of conversations; one outcome per item, in order."""
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
        _insert(session, owner_id=owner_id, items=list(fresh.values()))
    outcomes: list[Outcome] = []
    for item in items:
        if fresh.get(item.id) is item:
            outcomes.append("imported")
        else:
            outcomes.append(save(session, owner_id=owner_id, item=item))
    return outcomes


def _insert(session: Session, *, owner_id: str, items: list[Exploded]) -> None:
    result = session.execute(
        insert(conversations).returning(conversations.c.pk, sort_by_parameter_order=True),
        [{**item.row, "owner_id": owner_id} for item in items],
    )
    rows: list[tuple[Any, ...]] = []
    for pk, item in zip(result.scalars().all(), items, strict=True):
        for message in item.messages:
            rows.append((pk, *[message[column] for column in MESSAGE_COLUMNS[1:]]))
    insert_messages(session, rows=rows)


MESSAGE_COLUMNS = (
    "conversation_pk",
    "node_id",
    "parent_id",
    "position",
    "message",
    "node_extra",
    "role",
    "author_name",
    "content_type",
    "recipient",
    "model_slug",
    "create_time",
    "hidden",
    "text",
)


def insert_messages(session: Session, *, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert message rows (values in MESSAGE_COLUMNS order) and index their text.

    This is the only way messages enter the store: it goes straight to the driver's
    executemany, and on SQLite fills the FTS5 index for the new rows in one statement.
    """
    if not rows:
        return
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    before = 0
    if sqlite:
        last = connection.exec_driver_sql("SELECT coalesce(max(pk), 0) FROM messages").scalar()
        before = int(last or 0)
    connection.exec_driver_sql(
        f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) "
        f"VALUES ({', '.join([marker] * len(MESSAGE_COLUMNS))})",
        list(rows),
    )
    if sqlite:
        connection.exec_driver_sql(
            "INSERT INTO messages_fts(rowid, text) "
            "SELECT pk, text FROM messages WHERE pk > ? AND text != ''",
            (before,),
        )


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
    new_rows: list[tuple[Any, ...]] = []
    changed = False
    for row in item.messages:
        old = stored.get(row["node_id"])
        if old is None:
            new_rows.append((pk, *[row[column] for column in MESSAGE_COLUMNS[1:]]))
        elif (old.parent_id, old.position, old.message, old.node_extra) != (
            row["parent_id"],
            row["position"],
            row["message"],
            row["node_extra"],
        ):
            session.execute(update(messages).where(messages.c.pk == old.pk), row)
            changed = True
    insert_messages(session, rows=new_rows)
    return changed or bool(new_rows)


def _count_messages(session: Session, *, pk: int) -> int:
    return session.execute(
        select(func.count())
        .select_from(messages)
        .where(messages.c.conversation_pk == pk, messages.c.message.is_not(None))
    ).scalar_one()


def get_pk(session: Session, *, owner_id: str, conversation_id: str) -> int:
    pk = session.execute(
        select(conversations.c.pk).where(
            conversations.c.owner_id == owner_id, conversations.c.id == conversation_id
        )
    ).scalar()
    if pk is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    return int(pk)


def load(session: Session, *, owner_id: str, conversation_id: str) -> dict[str, Any]:
    """One conversation in the export shape; NotFound if the owner has no such id."""
    pk = get_pk(session, owner_id=owner_id, conversation_id=conversation_id)
    return next(load_many(session, pks=[pk]))  # the owner check is get_pk's


def load_many(session: Session, *, pks: Sequence[int]) -> Iterator[dict[str, Any]]:
    """Export-shape conversations for ``pks``, in that order, a query per 200."""
    for start in range(0, len(pks), 200):
        chunk = list(pks[start : start + 200])
        rows = {
            row.pk: row._asdict()
            for row in session.execute(select(conversations).where(conversations.c.pk.in_(chunk)))
        }
        nodes: dict[int, list[dict[str, Any]]] = {pk: [] for pk in chunk}
        for m in session.execute(
            select(
                messages.c.conversation_pk,
                messages.c.node_id,
                messages.c.parent_id,
                messages.c.position,
                messages.c.message,
                messages.c.node_extra,
            )
            .where(messages.c.conversation_pk.in_(chunk))
            .order_by(messages.c.conversation_pk, messages.c.pk)
        ):
            nodes[m.conversation_pk].append(m._mapping)  # type: ignore[arg-type]
        for pk in chunk:
            if pk in rows:
                yield assemble(rows[pk], nodes[pk])


def summaries(
    session: Session,
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
    """A page of the owner's conversations, newest first."""
    query = _filtered(
        select(*_SUMMARY_COLUMNS),
        owner_id=owner_id,
        is_archived=is_archived,
        since=since,
        until=until,
        ids=ids,
    )
    key = conversations.c.update_time if order == "updated" else conversations.c.create_time
    query = query.order_by(key.desc().nulls_last(), conversations.c.pk.desc())
    query = query.offset(offset).limit(limit)
    return [Summary(*row) for row in session.execute(query)]


def count(
    session: Session,
    *,
    owner_id: str,
    is_archived: bool | None = None,
    since: float | None = None,
    until: float | None = None,
) -> int:
    query = _filtered(
        select(func.count()).select_from(conversations),
        owner_id=owner_id,
        is_archived=is_archived,
        since=since,
        until=until,
        ids=None,
    )
    return int(session.execute(query).scalar_one())


def _filtered(
    query: Select[Any],
    *,
    owner_id: str,
    is_archived: bool | None,
    since: float | None,
    until: float | None,
    ids: Sequence[str] | None,
) -> Select[Any]:
    query = query.where(conversations.c.owner_id == owner_id)
    if is_archived is not None:
        query = query.where(conversations.c.is_archived == is_archived)
    if since is not None:
        query = query.where(conversations.c.create_time >= since)
    if until is not None:
        query = query.where(conversations.c.create_time < until)
    if ids is not None:
        query = query.where(conversations.c.id.in_(list(ids)))
    return query


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
