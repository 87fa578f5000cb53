"""Message rows going into the store: the one way they are inserted, and indexed.

Invariants:

* :func:`insert_messages` is the only way messages enter the store (imports, chat turns,
  the OpenAI proxy alike); on SQLite it also fills the FTS5 index for the new rows in one
  statement (there is no insert trigger);
* rows are :class:`parley.store.rows.MessageRow` tuples; their JSON columns arrive as
  UTF-8 bytes and are stored as text: on SQLite by ``CAST(? AS TEXT)``, which reinterprets
  the bytes in C, on PostgreSQL by decoding them first.

Every function takes the session first and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from parley.store import direct
from parley.store.direct import Db
from parley.store.rows import MessageRow

MESSAGE_COLUMNS = (
    "conversation_pk",
    *MessageRow._fields,
)
_JSON_COLUMNS = frozenset({"message", "node_extra"})


def _placeholders(marker: str, cast: bool) -> str:
    return ", ".join(
        f"CAST({marker} AS TEXT)" if cast and column in _JSON_COLUMNS else marker
        for column in MESSAGE_COLUMNS
    )


def as_text(value: bytes | str | None) -> str | None:
    """A JSON column's value as text (what a Core statement binds to a Text column)."""
    return value.decode() if isinstance(value, bytes) else value


def insert_messages(db: Db, *, pk: int, rows: Sequence[MessageRow]) -> None:
    """Insert the nodes of conversation ``pk``; see :func:`insert_many`."""
    insert_many(db, rows=[(pk, *row) for row in rows])


def insert_many(
    db: Db,
    *,
    rows: Sequence[tuple[Any, ...]],
    binding: AbstractContextManager[Any] = nullcontext(),
) -> None:
    """Insert ``(conversation_pk, *MessageRow)`` tuples and index their text.

    Goes straight to the driver's executemany, inside ``binding``; on SQLite the new rows'
    text then enters the FTS5 index in one ``INSERT ... SELECT``, outside it. (The driver
    lets go of the GIL for every row it steps, so a Python-bound thread beside it turns
    each row into a GIL hand-over; see :func:`parley.importer.import_paths`.)
    """
    if not rows:
        return
    d = direct.of(db)
    sqlite = d.is_sqlite
    sql = (
        f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) "
        f"VALUES ({_placeholders(d.marker, cast=sqlite)})"
    )
    if not sqlite:
        with binding:
            d.many(sql, [(*row[:4], as_text(row[4]), as_text(row[5]), *row[6:]) for row in rows])
        return
    before = int(d.sql("SELECT coalesce(max(pk), 0) FROM messages")[0][0])
    with binding:
        d.many(sql, rows)
    d.sql(
        "INSERT INTO messages_fts(rowid, text) "
        "SELECT pk, text FROM messages WHERE pk > ? AND text != ''",
        (before,),
    )
