"""Chat turns in the store: new conversations, appended nodes, the current node.

Every function takes the session first and never commits (the caller owns the
transaction). Invariants:

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

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from parley.errors import NotFound
from parley.store.conversations import get_pk
from parley.store.messages import MESSAGE_COLUMNS, as_text, insert_messages
from parley.store.rows import MessageRow, explode
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
    rows = explode({"id": "new-nodes", "mapping": mapping}).messages
    return [row._replace(position=node.position) for row, node in zip(rows, nodes, strict=True)]


def create_conversation(
    session: Session, *, owner_id: str, conversation: dict[str, Any], source: str = "chat"
) -> int:
    """Insert a new conversation given in the export shape; returns its primary key."""
    item = explode(conversation, source=source)
    pk = session.execute(
        insert(conversations).values(**item.row, owner_id=owner_id).returning(conversations.c.pk)
    ).scalar_one()
    insert_messages(session, pk=pk, rows=item.messages)
    return int(pk)


_TOUCH = (
    update(conversations)
    .where(conversations.c.owner_id == bindparam("o"), conversations.c.id == bindparam("c"))
    .values(update_time=bindparam("t"))
    .returning(conversations.c.pk, conversations.c.current_node, conversations.c.title)
)


def touch(session: Session, *, owner_id: str, conversation_id: str, now: float) -> Head:
    """Set ``update_time`` (taking the write lock) and read the row; NotFound if absent."""
    row = session.execute(_TOUCH, {"o": owner_id, "c": conversation_id, "t": now}).first()
    if row is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    return Head(pk=int(row.pk), current_node=row.current_node, title=row.title)


_HEAD = select(conversations.c.pk, conversations.c.current_node, conversations.c.title).where(
    conversations.c.owner_id == bindparam("o"), conversations.c.id == bindparam("c")
)


def head(session: Session, *, owner_id: str, conversation_id: str) -> Head:
    """The conversation's row, read only; NotFound if the owner has no such id."""
    row = session.execute(_HEAD, {"o": owner_id, "c": conversation_id}).first()
    if row is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    return Head(pk=int(row.pk), current_node=row.current_node, title=row.title)


_NODE = select(*_NODE_COLUMNS).where(
    messages.c.conversation_pk == bindparam("pk"), messages.c.node_id == bindparam("node")
)


def node(session: Session, *, pk: int, node_id: str) -> NodeInfo | None:
    row = session.execute(_NODE, {"pk": pk, "node": node_id}).first()
    return NodeInfo(**row._asdict()) if row else None


_PATH = text(
    "WITH RECURSIVE up(node_id, parent_id, role, content_type, recipient, hidden, text, depth) "
    "AS (SELECT node_id, parent_id, role, content_type, recipient, hidden, text, 0 "
    "FROM messages WHERE conversation_pk = :pk AND node_id = :node "
    "UNION ALL SELECT m.node_id, m.parent_id, m.role, m.content_type, m.recipient, m.hidden, "
    "m.text, up.depth + 1 FROM messages m JOIN up "
    "ON m.conversation_pk = :pk AND m.node_id = up.parent_id WHERE up.depth < :limit) "
    "SELECT node_id, parent_id, role, content_type, recipient, hidden, text "
    "FROM up ORDER BY depth"
)


def path(session: Session, *, pk: int, node_id: str) -> list[NodeInfo]:
    """The nodes from the root down to ``node_id`` (empty if it does not exist).

    One recursive query up the ``parent_id`` chain; a parent cycle is cut where it
    repeats, and a missing parent ends the path (the node is then treated as a root).
    """
    seen: set[str] = set()
    out: list[NodeInfo] = []
    for row in session.execute(_PATH, {"pk": pk, "node": node_id, "limit": MAX_DEPTH}):
        if row.node_id in seen:
            break
        seen.add(row.node_id)
        out.append(
            NodeInfo(
                node_id=row.node_id,
                parent_id=row.parent_id,
                role=row.role,
                content_type=row.content_type,
                recipient=row.recipient,
                hidden=bool(row.hidden),
                text=row.text or "",
            )
        )
    out.reverse()
    return out


_CHILDREN = select(func.count()).where(
    messages.c.conversation_pk == bindparam("pk"), messages.c.parent_id == bindparam("parent")
)
_ROOTS = select(func.count()).where(
    messages.c.conversation_pk == bindparam("pk"), messages.c.parent_id.is_(None)
)


def next_position(session: Session, *, pk: int, parent_id: str | None) -> int:
    """How many children ``parent_id`` has: the position of its next child."""
    if parent_id is None:
        return int(session.execute(_ROOTS, {"pk": pk}).scalar_one())
    return int(session.execute(_CHILDREN, {"pk": pk, "parent": parent_id}).scalar_one())


_ADVANCE = (
    update(conversations)
    .where(conversations.c.pk == bindparam("cpk"))
    .values(
        message_count=conversations.c.message_count + bindparam("added"),
        current_node=bindparam("current"),
        update_time=bindparam("t"),
    )
)


def append_nodes(
    session: Session,
    *,
    pk: int,
    nodes: Sequence[NewNode],
    current_node: str | None = None,
    now: float | None = None,
) -> None:
    """Insert new nodes (parents first), count their messages in ``message_count`` and,
    when given, move ``current_node`` (and ``update_time``) in the same statement."""
    if nodes:
        insert_messages(session, pk=pk, rows=node_rows(nodes))
    added = sum(1 for n in nodes if n.message is not None)
    if current_node is not None and now is not None:
        session.execute(_ADVANCE, {"cpk": pk, "added": added, "current": current_node, "t": now})
    elif added or current_node is not None or now is not None:
        values: dict[str, Any] = {"message_count": conversations.c.message_count + added}
        if current_node is not None:
            values["current_node"] = current_node
        if now is not None:
            values["update_time"] = now
        session.execute(update(conversations).where(conversations.c.pk == pk).values(values))


def append_message(
    session: Session,
    *,
    owner_id: str,
    conversation_id: str,
    node_id: str,
    parent_id: str | None,
    message: dict[str, Any],
) -> None:
    """Add one message under ``parent_id`` as its parent's last child."""
    pk = get_pk(session, owner_id=owner_id, conversation_id=conversation_id)
    position = next_position(session, pk=pk, parent_id=parent_id)
    append_nodes(session, pk=pk, nodes=[NewNode(node_id, parent_id, message, position)])


_CURRENT = (
    update(conversations)
    .where(conversations.c.pk == bindparam("cpk"))
    .values(current_node=bindparam("current"), update_time=bindparam("t"))
)


def set_current_node(session: Session, *, pk: int, node_id: str, now: float) -> None:
    session.execute(_CURRENT, {"cpk": pk, "current": node_id, "t": now})


_UPDATED_COLUMNS = tuple(
    c
    for c in MESSAGE_COLUMNS
    if c not in ("conversation_pk", "node_id", "parent_id", "position", "node_extra")
)
_UPDATE_MESSAGE = (
    update(messages)
    .where(messages.c.conversation_pk == bindparam("cpk"), messages.c.node_id == bindparam("node"))
    .values({column: bindparam(f"v_{column}") for column in _UPDATED_COLUMNS})
)


def update_message(session: Session, *, pk: int, node_id: str, message: dict[str, Any]) -> None:
    """Replace a node's message (e.g. an answer when it completes); its place stays."""
    (row,) = node_rows([NewNode(node_id, None, message)])
    found = row._asdict()
    found["message"] = as_text(row.message)
    values = {f"v_{column}": found[column] for column in _UPDATED_COLUMNS}
    session.execute(_UPDATE_MESSAGE, {"cpk": pk, "node": node_id, **values})


_EXISTING = select(messages.c.node_id).where(
    messages.c.conversation_pk == bindparam("pk"),
    messages.c.node_id.in_(bindparam("ids", expanding=True)),
)


def existing_nodes(session: Session, *, pk: int, node_ids: Sequence[str]) -> set[str]:
    """Which of ``node_ids`` the conversation has (one indexed query)."""
    if not node_ids:
        return set()
    rows = session.execute(_EXISTING, {"pk": pk, "ids": list(node_ids)})
    return {row.node_id for row in rows}
