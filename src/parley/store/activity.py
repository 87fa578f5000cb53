"""Activity aggregates in SQL: counts per time bucket, per model, per conversation length.

What is counted (a *source*):

* ``conversations``: the owner's conversations, at their ``create_time``;
* ``messages``: the owner's visible messages (``hidden`` false: what a transcript shows),
  at their ``create_time``.

Rows without a time, or with one outside [:data:`MIN_TIME`, :data:`MAX_TIME`) (1970-01-02
to 2100-01-01: imported garbage), are never counted.

Buckets: :func:`buckets` counts the rows of ``[lo, hi)`` per key
``floor((create_time + offset) / size)``: with a zone's UTC offset and a size of a day (or
an hour), one key per local day (or hour); :mod:`parley.analytics` calls it once per
stretch of constant offset. Every function returns aggregated rows (one per bucket, model
or length), never one per message or conversation.

How, per database:

* SQLite sorts for ``GROUP BY``; over a year of a big library (700,000 messages) the sort
  costs more than reading the rows. So when the range has at most ``range_limit`` buckets,
  a recursive CTE lists the bucket keys and a correlated ``count(*)`` per key reads an index
  range: ``ix_messages_activity (hidden, create_time, conversation_pk, model_slug)`` for
  messages (covering: no table access), ``ix_conversations_owner_create`` for
  conversations. Longer ranges (tiny buckets over decades) use ``GROUP BY``.
* Messages carry no owner column: the owner filter is ``conversation_pk IN (the owner's
  conversations)``, a probe per row, skipped on SQLite when the owner holds every
  conversation (see :func:`_where`).
* PostgreSQL: ``GROUP BY floor(...)`` (a hash aggregate) with a semi-join on the owner's
  conversations.

Every function takes the session first and never commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from parley.store.conversations import Summary
from parley.store.tables import conversations

Source = Literal["conversations", "messages"]
SOURCES: tuple[Source, ...] = ("conversations", "messages")
MIN_TIME = 86_400.0  # 1970-01-02
MAX_TIME = 4_102_444_800.0  # 2100-01-01
RANGE_LIMIT = 50_000


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _owns_everything(session: Session, owner_id: str) -> bool:
    """True when no other user has a conversation (two index seeks)."""
    others = text(
        "SELECT EXISTS (SELECT 1 FROM conversations WHERE owner_id < :owner) "
        "OR EXISTS (SELECT 1 FROM conversations WHERE owner_id > :owner)"
    )
    return not session.execute(others, {"owner": owner_id}).scalar()


def _where(session: Session, source: Source, owner_id: str) -> tuple[str, str]:
    """(table, filter: the owner's rows) for a source; callers add ONE time range (with
    two lower bounds SQLite may seek the index with the wider one).

    Messages: ``conversation_pk IN (the owner's conversations)``, a probe per row, which
    SQLite leaves out when the owner holds every conversation (a personal library). That
    is checked in the caller's transaction, whose snapshot the count then reads: SQLite
    transactions are serializable, so a concurrent insert cannot slip in between.
    """
    if source == "conversations":
        return "conversations", "owner_id = :owner"
    if _sqlite(session):
        # hidden = 0: an equality on the index's first column (NOT hidden would scan it)
        if _owns_everything(session, owner_id):
            return "messages", "hidden = 0"
        owned = "hidden = 0 AND "
    else:
        owned = "hidden = false AND "
    owned += "conversation_pk IN (SELECT pk FROM conversations WHERE owner_id = :owner)"
    return "messages", owned


def bounds(session: Session, *, owner_id: str, source: Source) -> tuple[float, float] | None:
    """The earliest and latest counted time of a source, or None when there is none."""
    table, where = _where(session, source, owner_id)
    one = f"FROM {table} WHERE {where} AND create_time >= :lo AND create_time < :hi"
    # two subqueries: each is one index seek (SQLite optimizes a lone min() or max() only)
    row = session.execute(
        text(f"SELECT (SELECT min(create_time) {one}), (SELECT max(create_time) {one})"),
        {"owner": owner_id, "lo": MIN_TIME, "hi": MAX_TIME},
    ).one()
    if row[0] is None:
        return None
    return float(row[0]), float(row[1])


def buckets(
    session: Session,
    *,
    owner_id: str,
    source: Source,
    size: int,
    offset: int,
    lo: float,
    hi: float,
    range_limit: int = RANGE_LIMIT,
) -> list[tuple[int, int]]:
    """``(key, count)`` of the rows in ``[lo, hi)``, key = ``floor((t + offset) / size)``,
    for keys with a count above zero, by key."""
    lo, hi = max(lo, MIN_TIME), min(hi, MAX_TIME)
    if lo >= hi:
        return []
    sqlite = _sqlite(session)
    table, where = _where(session, source, owner_id)
    size, offset = int(size), int(offset)  # inlined into the SQL: ints only
    first, last = int((lo + offset) // size), int(-((-(hi + offset)) // size)) - 1
    params: dict[str, Any] = {"owner": owner_id, "first": first, "last": last, "lo": lo, "hi": hi}
    if sqlite and last - first < range_limit:
        sql = (
            "WITH RECURSIVE k(n) AS (SELECT :first UNION ALL SELECT n + 1 FROM k WHERE n < :last) "
            f"SELECT n, c FROM (SELECT n, (SELECT count(*) FROM {table} WHERE {where} "
            f"AND create_time >= max(n * {size} - {offset}, :lo) "
            f"AND create_time < min((n + 1) * {size} - {offset}, :hi)) AS c "
            "FROM k) AS counted WHERE c > 0 ORDER BY n"
        )
    else:
        key = (
            f"CAST((create_time + {offset}) / {size} AS INTEGER)"
            if sqlite  # create_time + offset > 0 here, so CAST truncates as floor would
            else f"CAST(floor((create_time + {offset}) / {size}) AS BIGINT)"
        )
        sql = (
            f"SELECT {key} AS n, count(*) AS c FROM {table} WHERE {where} "
            "AND create_time >= :lo AND create_time < :hi GROUP BY 1 ORDER BY 1"
        )
    return [(int(n), int(c)) for n, c in session.execute(text(sql), params)]


def conversation_groups(
    session: Session, *, owner_id: str, lo: float, hi: float
) -> list[tuple[str | None, int, int]]:
    """``(default_model_slug, message_count, conversations)`` over the owner's conversations
    created in ``[lo, hi)``: per-model counts and the length distribution in one pass.
    ``message_count`` is every stored message, hidden system and tool messages included
    (counting only the visible ones would cost a sort of every message in the range)."""
    sql = (
        "SELECT default_model_slug, message_count, count(*) FROM conversations "
        "WHERE owner_id = :owner AND create_time >= :lo AND create_time < :hi "
        "GROUP BY default_model_slug, message_count"
    )
    rows = session.execute(text(sql), {"owner": owner_id, "lo": lo, "hi": hi})
    return [(slug, int(n), int(c)) for slug, n, c in rows]


def message_models(session: Session, *, owner_id: str, lo: float, hi: float) -> dict[str, int]:
    """Visible messages per ``model_slug`` sent in ``[lo, hi)`` (those without a model,
    such as the user's, are left out)."""
    _, where = _where(session, "messages", owner_id)
    sql = (
        f"SELECT model_slug, count(*) FROM messages WHERE {where} AND model_slug IS NOT NULL "
        "AND create_time >= :lo AND create_time < :hi GROUP BY model_slug"
    )
    rows = session.execute(text(sql), {"owner": owner_id, "lo": lo, "hi": hi})
    return {slug: int(n) for slug, n in rows}


_SUMMARY = [conversations.c[name] for name in Summary._fields]


def all_summaries(session: Session, *, owner_id: str, chunk: int = 1000) -> Iterator[Summary]:
    """Every conversation of the owner, most recently updated first, streamed in chunks."""
    query = (
        select(*_SUMMARY)
        .where(conversations.c.owner_id == owner_id)
        .order_by(conversations.c.update_time.desc().nulls_last(), conversations.c.pk.desc())
        .execution_options(yield_per=chunk)
    )
    for row in session.execute(query):
        yield Summary(**row._asdict())
