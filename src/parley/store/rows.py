"""Conversation objects <-> table rows, losslessly, as pure functions.

:func:`explode` turns one export-shape conversation into a conversation row and one row
per mapping node; :func:`assemble` turns them back. For any conversation ``x`` that
:func:`explode` accepts, ``assemble(*explode(x))`` equals ``x``: every top-level key,
every node key and every message field survive, unknown ones included. Two details make
that hold:

* ``extra`` keeps all top-level keys but ``mapping``; a column that Parley can change
  (title, current_node, is_archived, is_starred, update_time) is written back over it
  only when it no longer equals what was extracted from the original value.
* ``node_extra`` is NULL for an ordinary node; otherwise an object whose ``keys`` holds
  the node's other keys verbatim, and whose markers record what differs from the
  ordinary: ``children`` is ``false`` when the node had no ``children`` key (slim
  exports) or the original value when it disagrees with the children derived from
  ``parent``; ``no_id`` / ``id`` an absent or different node id; ``no_parent`` /
  ``parent`` an absent or non-string parent. Verbatim keys and markers never mix.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from parley import tree
from parley.errors import MalformedConversation

MAX_ID_LENGTH = 200


class MessageRow(NamedTuple):
    """One mapping node as a row of ``messages`` (the columns after ``conversation_pk``)."""

    node_id: str
    parent_id: str | None
    position: int
    message: bytes | None  # the message object verbatim, as JSON
    node_extra: bytes | None  # JSON, see the module docstring; None for an ordinary node
    role: str | None
    author_name: str | None
    content_type: str | None
    recipient: str | None
    model_slug: str | None
    create_time: float | None
    hidden: bool
    text: str


# The keys of Exploded.row: the columns of ``conversations`` an import writes (and the
# owner, which the caller adds).
CONVERSATION_COLUMNS = (
    "id",
    "title",
    "update_time",
    "current_node",
    "is_archived",
    "is_starred",
    "create_time",
    "default_model_slug",
    "gizmo_id",
    "template_id",
    "extra",
    "source",
    "content_hash",
    "message_count",
)


@dataclass
class Exploded:
    id: str
    row: dict[str, Any]
    messages: list[MessageRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def fingerprint(item: Exploded) -> str:
    """A digest of everything a conversation stores: equal for equal content.

    Computed over the serialized rows (not the input bytes), so it needs no copy of
    the input and does not change with the input's formatting.
    """
    digest = hashlib.blake2b(item.row["extra"].encode(), digest_size=16)
    update = digest.update
    for m in item.messages:
        update(f"\x00{m.node_id}\x00{m.parent_id}\x00{m.position}\x00".encode())
        update(m.message or b"-")
        update(m.node_extra or b"-")
    return digest.hexdigest()


def epoch(value: Any) -> float | None:
    """Float epoch seconds from a number or an ISO 8601 string (as the list API sends)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            from datetime import UTC

            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def _clean(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; extracted columns are copies, the JSON keeps them.
    return text.replace("\x00", "") if text else text


def _short(value: Any, what: str, conversation_id: str | None) -> str | None:
    if value is None:
        return None
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise MalformedConversation(
            f"{what} is longer than {MAX_ID_LENGTH} characters", conversation_id
        )
    return text


def _title(value: Any) -> str | None:
    return None if value is None else _clean(value if isinstance(value, str) else str(value))


# The columns Parley may change, each with how it is extracted from the original value.
MUTABLE: dict[str, Callable[[Any], Any]] = {
    "title": _title,
    "update_time": epoch,
    "current_node": lambda value: value,
    "is_archived": bool,
    "is_starred": bool,
}


def conversation_id(data: dict[str, Any]) -> str:
    """``id``, else ``conversation_id``, else a stable id derived from the content."""
    for key in ("id", "conversation_id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    mapping = data.get("mapping") or {}
    seed = f"{data.get('create_time')}|{data.get('title')}|{','.join(list(mapping)[:4])}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "parley:" + seed))


def explode(data: Any, *, content_hash: str | None = None, source: str = "import") -> Exploded:
    """Validate one conversation and split it into rows. Raises MalformedConversation.

    ``content_hash`` (what makes a re-import a no-op) defaults to :func:`fingerprint`.
    """
    if not isinstance(data, dict):
        raise MalformedConversation(f"expected a JSON object, got {type(data).__name__}")
    cid = _short(conversation_id(data), "id", None)
    assert cid is not None
    mapping = data.get("mapping")
    if not isinstance(mapping, dict):
        raise MalformedConversation("'mapping' is missing or not an object", cid)
    current = data.get("current_node")
    if current is not None and not isinstance(current, str):
        raise MalformedConversation("'current_node' is not a string", cid)
    _short(current, "current_node", cid)
    extra = {key: value for key, value in data.items() if key != "mapping"}
    row = {
        "id": cid,
        **{key: extract(data.get(key)) for key, extract in MUTABLE.items()},
        "create_time": epoch(data.get("create_time")),
        "default_model_slug": _short(data.get("default_model_slug"), "model slug", cid),
        "gizmo_id": _short(data.get("gizmo_id"), "gizmo_id", cid),
        "template_id": _short(data.get("conversation_template_id"), "template id", cid),
        "extra": orjson.dumps(extra).decode(),
        "source": source,
        "content_hash": content_hash,
        "message_count": 0,
    }
    shape = tree.Tree.build(mapping)
    out = Exploded(id=cid, row=row, warnings=list(shape.warnings))
    positions: dict[str, int] = {}
    for kids in (shape.roots, *shape.children.values()):
        if len(kids) > 1:
            for i, kid in enumerate(kids):
                positions[kid] = i
    rows = out.messages
    count = 0
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise MalformedConversation(f"node {key!r} is not an object", cid)
        if len(key) > MAX_ID_LENGTH:
            _short(key, "node id", cid)
        row_ = _node_row(key, node, shape.children[key], positions.get(key, 0), cid)
        count += row_.message is not None
        rows.append(row_)
    out.row["message_count"] = count
    if content_hash is None:
        out.row["content_hash"] = fingerprint(out)
    return out


_NODE_KEYS = frozenset({"id", "message", "parent", "children"})
_ORJSON_BUFFER = 4096  # orjson's smallest output buffer: a shorter result still holds it


def _dumps(value: Any) -> bytes:
    """orjson.dumps, in a bytes object of its own size (a batch keeps thousands)."""
    out = orjson.dumps(value)
    return memoryview(out).tobytes() if len(out) < _ORJSON_BUFFER else out


def _node_row(
    node_id: str, node: dict[str, Any], derived: list[str], position: int, cid: str
) -> MessageRow:
    parent = node.get("parent")
    extra: dict[str, Any] | None = None
    if len(node) == 4 and node.keys() == _NODE_KEYS:  # the usual node: only values differ
        if node["children"] != derived:
            extra = {"children": node["children"]}
        if node["id"] != node_id:
            extra = extra or {}
            extra["id"] = node["id"]
        if parent is not None and not isinstance(parent, str):
            extra = extra or {}
            extra["parent"] = parent
    else:
        extra = {}
        keys = {k: v for k, v in node.items() if k not in _NODE_KEYS}
        if keys:
            extra["keys"] = keys
        if "children" not in node:
            extra["children"] = False
        elif node["children"] != derived:
            extra["children"] = node["children"]
        if "id" not in node:
            extra["no_id"] = True
        elif node["id"] != node_id:
            extra["id"] = node["id"]
        if "parent" not in node:
            extra["no_parent"] = True
        elif parent is not None and not isinstance(parent, str):
            extra["parent"] = parent
    message = node.get("message")
    node_extra = _dumps(extra) if extra else None
    parent_id = None
    if isinstance(parent, str):
        parent_id = parent if len(parent) <= MAX_ID_LENGTH else _short(parent, "parent id", cid)
    if message is None:
        return MessageRow(
            node_id, parent_id, position, None, node_extra,
            None, None, None, None, None, None, True, "",
        )  # fmt: skip
    if not isinstance(message, dict):
        raise MalformedConversation(f"node {node_id!r} has a message that is not an object", cid)
    found = tree.facts(message)
    author = message.get("author")
    name = author.get("name") if isinstance(author, dict) else None
    created = message.get("create_time")
    text = found.text
    return MessageRow(
        node_id,
        parent_id,
        position,
        _dumps(message),
        node_extra,
        _clip(found.role, 32),
        _clip(name, 200),
        _clip(found.content_type, 64),
        _clip(message.get("recipient"), 200),
        _clip(found.model_slug, 200),
        created if type(created) is float else epoch(created),
        found.hidden,
        text.replace("\x00", "") if "\x00" in text else text,
    )


def _clip(value: Any, length: int) -> str | None:
    if value is None or (type(value) is str and len(value) <= length and "\x00" not in value):
        return value
    return _clean(str(value)[:length])


# (node_id, parent_id, position, message, node_extra, ...): what a MessageRow starts with
NodeRow = Sequence[Any]


def assemble(
    row: dict[str, Any],
    message_rows: Sequence[NodeRow],
    *,
    message: Callable[[Any], Any] = orjson.loads,
) -> dict[str, Any]:
    """The export-shape conversation for a stored row and its node rows (in pk order).

    ``message`` turns a stored message's JSON into the value placed in the mapping:
    parsed by default; ``orjson.Fragment`` embeds it unparsed, for a response that is
    only going to be serialized again.
    """
    data: dict[str, Any] = orjson.loads(row["extra"])
    for key, extract in MUTABLE.items():
        if extract(data.get(key)) != row[key]:
            data[key] = row[key]  # changed in Parley since it was imported
    children: dict[str, list[tuple[int, str]]] = {}
    for m in message_rows:
        if m[1] is not None:
            children.setdefault(m[1], []).append((m[2], m[0]))
    mapping: dict[str, Any] = {}
    for m in message_rows:
        node_id, parent_id, payload, node_extra = m[0], m[1], m[3], m[4]
        extra = orjson.loads(node_extra) if node_extra else None
        kids = children.get(node_id)
        derived = [kid for _, kid in sorted(kids)] if kids else []
        if extra is None:  # an ordinary node
            mapping[node_id] = {
                "id": node_id,
                "message": message(payload) if payload is not None else None,
                "parent": parent_id,
                "children": derived,
            }
            continue
        node: dict[str, Any] = {}
        if not extra.get("no_id"):
            node["id"] = extra.get("id", node_id)
        node["message"] = message(payload) if payload is not None else None
        if not extra.get("no_parent"):
            node["parent"] = extra.get("parent", parent_id)
        listed = extra.get("children", derived)
        if isinstance(listed, list):
            node["children"] = listed + [kid for kid in derived if kid not in listed]
        elif listed is not False:
            node["children"] = listed  # not a list in the original: kept as it was
        node.update(extra.get("keys", {}))
        mapping[node_id] = node
    data["mapping"] = mapping
    return data
