"""Chat turns in the store: new conversations, appended nodes, the current node.

Every function takes the session (or a :class:`parley.store.direct.Direct`) first and
never commits (the caller owns the transaction); statements run straight on the DB-API
connection (see :mod:`parley.store.direct`): a turn is a handful of small statements. Invariants:

* messages enter only through :func:`parley.store.messages.insert_messages` (which
  also indexes their text on SQLite), and their rows are built by
  :func:`parley.store.rows.explode`, so a node made by chatting is stored exactly like an
  imported one and exports the same way (children derived from parents, no markers);
* a new node's ``position`` is the number of siblings it already has, so regenerations
  and edits keep their order;
* ``message_count`` counts the nodes that carry a message, as an import does;
* a write transaction should begin with :func:`touch` (an ``UPDATE`` of the conversation):
  on SQLite the transaction then takes the write lock at its first statement, waiting
  under the busy timeout, instead of failing to upgrade a stale read snapshot; on
  PostgreSQL it locks the conversation's row, so concurrent turns on one conversation
  compute sibling positions one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from parley.errors import NotFound
from parley.store import direct
from parley.store.conversations import get_pk
from parley.store.direct import Db, Query
from parley.store.messages import MESSAGE_COLUMNS, as_text, insert_messages
from parley.store.rows import CONVERSATION_COLUMNS, MessageRow, explode
from parley.store.tables import conversations, messages

MAX_DEPTH = 100_000  # a path longer than this is cut (and a parent cycle cannot loop)


@dataclass(frozen=True)
class Head:
    """A conversation's row, as a turn needs it."""

    pk: int
    current_node: str | None
    title: str | None


@dataclass(frozen=True)
class NodeInfo:
    """One stored node's extracted columns (no JSON parsing needed to build a prompt)."""

    node_id: str
    parent_id: str | None
    role: str | None
    content_type: str | None
    recipient: str | None
    hidden: bool
    text: str


@dataclass(frozen=True)
class NewNode:
    node_id: str
    parent_id: str | None
    message: dict[str, Any] | None
    position: int = 0


_NODE_COLUMNS = (
    messages.c.node_id,
    messages.c.parent_id,
    messages.c.role,
    messages.c.content_type,
    messages.c.recipient,
    messages.c.hidden,
    messages.c.text,
)


def _info(row: Sequence[Any]) -> NodeInfo:
    return NodeInfo(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6] or "")


def node_rows(nodes: Sequence[NewNode]) -> list[MessageRow]:
    """Message rows for new nodes, built by ``rows.explode``."""
    mapping = {
        n.node_id: {
            "id": n.node_id,
            "message": n.message,
            "parent": n.parent_id,
            "children": [kid.node_id for kid in nodes if kid.parent_id == n.node_id],
        }
        for n in nodes
    }
    rows = explode({"id": "new-nodes", "mapping": mapping}, content_hash="").messages
    return [row._replace(position=node.position) for row, node in zip(rows, nodes, strict=True)]


_CONVERSATION_COLUMNS = ("owner_id", *CONVERSATION_COLUMNS)
_CREATE = Query(
    insert(conversations)
    .values({name: bindparam(name) for name in _CONVERSATION_COLUMNS})
    .returning(conversations.c.pk)
)


def create_conversation(
    db: Db, *, owner_id: str, conversation: dict[str, Any], source: str = "chat"
) -> int:
    """Insert a new conversation given in the export shape; returns its primary key."""
    item = explode(conversation, source=source)
    d = direct.of(db)
    pk = int(d.scalar(_CREATE, **item.row, owner_id=owner_id))
    insert_messages(d, pk=pk, rows=item.messages)
    return pk


_TOUCH = Query(
    update(conversations)
    .where(conversations.c.owner_id == bindparam("o"), conversations.c.id == bindparam("c"))
    .values(update_time=bindparam("t"))
    .returning(conversations.c.pk, conversations.c.current_node, conversations.c.title)
)


def touch(db: Db, *, owner_id: str, conversation_id: str, now: float) -> Head:
    """Set ``update_time`` (taking the write lock) and read the row; NotFound if absent."""
    row = direct.of(db).first(_TOUCH, o=owner_id, c=conversation_id, t=now)
    if row is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    return Head(pk=int(row[0]), current_node=row[1], title=row[2])


_HEAD = Query(
    select(conversations.c.pk, conversations.c.current_node, conversations.c.title).where(
        conversations.c.owner_id == bindparam("o"), conversations.c.id == bindparam("c")
    )
)


def head(db: Db, *, owner_id: str, conversation_id: str) -> Head:
    """The conversation's row, read only; NotFound if the owner has no such id."""
    row = direct.of(db).first(_HEAD, o=owner_id, c=conversation_id)
    if row is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    return Head(pk=int(row[0]), current_node=row[1], title=row[2])


_NODE = Query(
    select(*_NODE_COLUMNS).where(
        messages.c.conversation_pk == bindparam("pk"), messages.c.node_id == bindparam("node")
    )
)


def node(db: Db, *, pk: int, node_id: str) -> NodeInfo | None:
    row = direct.of(db).first(_NODE, pk=pk, node=node_id)
    return _info(row) if row else None


_PATH = (
    "WITH RECURSIVE up(node_id, parent_id, role, content_type, recipient, hidden, text, depth) "
    "AS (SELECT node_id, parent_id, role, content_type, recipient, hidden, text, 0 "
    "FROM messages WHERE conversation_pk = {m} AND node_id = {m} "
    "UNION ALL SELECT m.node_id, m.parent_id, m.role, m.content_type, m.recipient, m.hidden, "
    "m.text, up.depth + 1 FROM messages m JOIN up "
    "ON m.conversation_pk = {m} AND m.node_id = up.parent_id WHERE up.depth < {m}) "
    "SELECT node_id, parent_id, role, content_type, recipient, hidden, text "
    "FROM up ORDER BY depth"
)


def path(db: Db, *, pk: int, node_id: str) -> list[NodeInfo]:
    """The nodes from the root down to ``node_id`` (empty if it does not exist).

    One recursive query up the ``parent_id`` chain; a parent cycle is cut where it
    repeats, and a missing parent ends the path (the node is then treated as a root).
    """
    d = direct.of(db)
    seen: set[str] = set()
    out: list[NodeInfo] = []
    for row in d.sql(_PATH.format(m=d.marker), (pk, node_id, pk, MAX_DEPTH)):
        if row[0] in seen:
            break
        seen.add(row[0])
        out.append(_info(row))
    out.reverse()
    return out


_CHILDREN = Query(
    select(func.count()).where(
        messages.c.conversation_pk == bindparam("pk"), messages.c.parent_id == bindparam("parent")
    )
)
_ROOTS = Query(
    select(func.count()).where(
        messages.c.conversation_pk == bindparam("pk"), messages.c.parent_id.is_(None)
    )
)


def next_position(db: Db, *, pk: int, parent_id: str | None) -> int:
    """How many children ``parent_id`` has: the position of its next child."""
    d = direct.of(db)
    if parent_id is None:
        return int(d.scalar(_ROOTS, pk=pk))
    return int(d.scalar(_CHILDREN, pk=pk, parent=parent_id))


_ADVANCE = Query(
    update(conversations)
    .where(conversations.c.pk == bindparam("cpk"))
    .values(
        message_count=conversations.c.message_count + bindparam("added"),
        current_node=bindparam("current"),
        update_time=bindparam("t"),
    )
)
_COUNT_MORE = Query(
    update(conversations)
    .where(conversations.c.pk == bindparam("cpk"))
    .values(message_count=conversations.c.message_count + bindparam("added"))
)


def append_nodes(
    db: Db,
    *,
    pk: int,
    nodes: Sequence[NewNode],
    current_node: str | None = None,
    now: float | None = None,
) -> None:
    """Insert new nodes (parents first), count their messages in ``message_count`` and,
    when given, move ``current_node`` and ``update_time`` in the same statement (both or
    neither: a turn always sets both)."""
    d = direct.of(db)
    if nodes:
        insert_messages(d, pk=pk, rows=node_rows(nodes))
    added = sum(1 for n in nodes if n.message is not None)
    if current_node is not None and now is not None:
        d.execute(_ADVANCE, cpk=pk, added=added, current=current_node, t=now)
    elif current_node is not None or now is not None:
        raise ValueError("append_nodes moves current_node and update_time together")
    elif added:
        d.execute(_COUNT_MORE, cpk=pk, added=added)


def append_message(
    db: Db,
    *,
    owner_id: str,
    conversation_id: str,
    node_id: str,
    parent_id: str | None,
    message: dict[str, Any],
) -> None:
    """Add one message under ``parent_id`` as its parent's last child."""
    d = direct.of(db)
    pk = get_pk(d, owner_id=owner_id, conversation_id=conversation_id)
    position = next_position(d, pk=pk, parent_id=parent_id)
    append_nodes(d, pk=pk, nodes=[NewNode(node_id, parent_id, message, position)])


_CURRENT = Query(
    update(conversations)
    .where(conversations.c.pk == bindparam("cpk"))
    .values(current_node=bindparam("current"), update_time=bindparam("t"))
)


def set_current_node(db: Db, *, pk: int, node_id: str, now: float) -> None:
    direct.of(db).execute(_CURRENT, cpk=pk, current=node_id, t=now)


_UPDATED_COLUMNS = tuple(
    c
    for c in MESSAGE_COLUMNS
    if c not in ("conversation_pk", "node_id", "parent_id", "position", "node_extra")
)
_UPDATE_MESSAGE = Query(
    update(messages)
    .where(messages.c.conversation_pk == bindparam("cpk"), messages.c.node_id == bindparam("node"))
    .values({column: bindparam(f"v_{column}") for column in _UPDATED_COLUMNS})
)


def update_message(db: Db, *, pk: int, node_id: str, message: dict[str, Any]) -> None:
    """Replace a node's message (e.g. an answer when it completes); its place stays."""
    (row,) = node_rows([NewNode(node_id, None, message)])
    found = row._asdict()
    found["message"] = as_text(row.message)
    values = {f"v_{column}": found[column] for column in _UPDATED_COLUMNS}
    direct.of(db).execute(_UPDATE_MESSAGE, cpk=pk, node=node_id, **values)


def existing_nodes(db: Db, *, pk: int, node_ids: Sequence[str]) -> set[str]:
    """Which of ``node_ids`` the conversation has (one indexed query)."""
    if not node_ids:
        return set()
    d = direct.of(db)
    sql = (
        f"SELECT node_id FROM messages WHERE conversation_pk = {d.marker} "
        f"AND node_id IN ({', '.join([d.marker] * len(node_ids))})"
    )
    return {row[0] for row in d.sql(sql, (pk, *node_ids))}
