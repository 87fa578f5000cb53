"""Full-text search over one owner's titles and message text.

SQLite uses the FTS5 tables (porter stemming); PostgreSQL the generated ``tsvector``
columns (english configuration) with their GIN indexes. Either way a query is a list of
words that must all appear (the user's text is never passed through as query syntax),
hits are grouped per conversation (its best message), and ``score`` is higher for
better matches; a title match counts extra. On SQLite, message snippets are made from
the hits' text (:mod:`parley.store.snippets`); title matches are highlighted by FTS5.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from parley.store import direct
from parley.store.direct import Direct
from parley.store.snippets import snippet

TITLE_BOOST = 5.0
CANDIDATES = 200
RANK_WINDOW = 2000  # SQLite ranks at most this many of the newest matching messages
_WORD = re.compile(r"\w+", re.UNICODE)


class Hit(NamedTuple):
    id: str
    pk: int
    title: str | None
    node_id: str | None
    snippet: str
    score: float


def words(query: str) -> list[str]:
    return _WORD.findall(query)


def fts5_query(query: str) -> str:
    """The words of ``query`` as an FTS5 expression: each quoted, all required."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words(query))


def search(
    session: Session,
    *,
    owner_id: str,
    query: str,
    limit: int = 20,
    mark: tuple[str, str] = ("«", "»"),
) -> list[Hit]:
    if not words(query):
        return []
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite(session, owner_id=owner_id, query=query, limit=limit, mark=mark)
    hits = _postgres(session, owner_id=owner_id, query=query, mark=mark)
    return _best_per_conversation(hits)[:limit]


def _best_per_conversation(hits: list[Hit]) -> list[Hit]:
    """One hit per conversation (its best message), a title match adding its score."""
    best: dict[int, Hit] = {}
    for hit in hits:
        seen = best.get(hit.pk)
        if seen is None:
            best[hit.pk] = hit
        elif seen.node_id is None or hit.node_id is None:
            keep = hit if seen.node_id is None else seen
            best[hit.pk] = keep._replace(score=seen.score + hit.score)
        elif hit.score > seen.score:
            best[hit.pk] = hit
    return sorted(best.values(), key=lambda h: -h.score)


_SQLITE_RANKED = (
    "SELECT m.pk AS rowid, c.id, c.pk, c.title, m.node_id, r.score FROM "
    "(SELECT rowid, score FROM (SELECT rowid, -bm25(messages_fts) AS score "
    "  FROM messages_fts WHERE messages_fts MATCH :q ORDER BY rowid DESC LIMIT :w) "
    " ORDER BY score DESC LIMIT :n) r "
    "JOIN messages m ON m.pk = r.rowid JOIN conversations c ON c.pk = m.conversation_pk "
    "WHERE c.owner_id = :owner"
)
_SQLITE_OWNED = (
    "SELECT m.pk AS rowid, c.id, c.pk, c.title, m.node_id, -bm25(messages_fts) AS score "
    "FROM messages_fts JOIN messages m ON m.pk = messages_fts.rowid "
    "JOIN conversations c ON c.pk = m.conversation_pk "
    "WHERE messages_fts MATCH :q AND c.owner_id = :owner "
    "ORDER BY bm25(messages_fts) LIMIT :n"
)
_SQLITE_TITLES = (
    "SELECT c.id, c.pk, c.title, NULL AS node_id, "
    "highlight(conversations_fts, 0, :a, :b) AS snippet, "
    f"{TITLE_BOOST} - bm25(conversations_fts) AS score "
    "FROM conversations_fts JOIN conversations c ON c.pk = conversations_fts.rowid "
    "WHERE conversations_fts MATCH :q AND c.owner_id = :owner "
    "ORDER BY bm25(conversations_fts) LIMIT :n"
)


def _sqlite(
    session: Session, *, owner_id: str, query: str, limit: int, mark: tuple[str, str]
) -> list[Hit]:
    """Rank first from the index alone, then make snippets for the hits returned only.

    Ranking scores the RANK_WINDOW most recent matching messages (all of them for any
    word rarer than that), so a word found in tens of thousands of messages costs no more
    than a rarer one; title matches are ranked in full.

    The ranking takes the best CANDIDATES matches of any owner and keeps the owner's;
    only when that leaves fewer than ``limit`` conversations while the top was full
    (other owners' messages crowding it) does it rank again restricted to the owner.
    """
    expression = fts5_query(query)
    params = {"q": expression, "owner": owner_id, "n": CANDIDATES, "w": RANK_WINDOW}
    db = direct.of(session)
    rows = db.sql(_SQLITE_RANKED, params)  # (rowid, id, pk, title, node_id, score)
    if len({row[2] for row in rows}) < limit and len(rows) < CANDIDATES:
        matches = db.sql(
            "SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH :q "
            "LIMIT :n)",
            params,
        )[0][0]
        if matches == CANDIDATES:
            rows = db.sql(_SQLITE_OWNED, params)
    titles = db.sql(_SQLITE_TITLES, {**params, "a": mark[0], "b": mark[1]})
    hits = [Hit(row[1], row[2], row[3], row[4], "", row[5]) for row in rows]
    top = _best_per_conversation(hits + [Hit(*row) for row in titles])[:limit]
    wanted = {(hit.pk, hit.node_id) for hit in top if hit.node_id is not None}
    rowids = [row[0] for row in rows if (row[2], row[4]) in wanted]
    snippets = _sqlite_snippets(db, query=query, rowids=rowids, mark=mark)
    return [
        hit._replace(snippet=snippets.get((hit.pk, hit.node_id), "")) if hit.node_id else hit
        for hit in top
    ]


def _sqlite_snippets(
    db: Direct, *, query: str, rowids: list[int], mark: tuple[str, str]
) -> dict[tuple[int, str | None], str]:
    """Snippets of the returned hits, from their text read by primary key (see
    :mod:`parley.store.snippets`)."""
    if not rowids:
        return {}
    listed = ", ".join(str(int(rowid)) for rowid in rowids)
    rows = db.sql(f"SELECT conversation_pk, node_id, text FROM messages WHERE pk IN ({listed})")
    found = words(query)
    return {(pk, node_id): snippet(text, found, mark) for pk, node_id, text in rows}


def _postgres(session: Session, *, owner_id: str, query: str, mark: tuple[str, str]) -> list[Hit]:
    options = f"StartSel={mark[0]}, StopSel={mark[1]}, MaxWords=24, MinWords=8, MaxFragments=1"
    params = {"q": " ".join(words(query)), "owner": owner_id, "n": CANDIDATES, "opts": options}
    message_rows = session.execute(
        text(
            "WITH q AS (SELECT plainto_tsquery('english', :q) AS q), "
            "best AS (SELECT m.pk, m.conversation_pk, m.node_id, ts_rank(m.text_tsv, q.q) AS score "
            "FROM q, messages m JOIN conversations c ON c.pk = m.conversation_pk "
            "WHERE m.text_tsv @@ q.q AND c.owner_id = :owner ORDER BY score DESC LIMIT :n) "
            "SELECT c.id, c.pk, c.title, best.node_id, best.score, "
            "ts_headline('english', left(m.text, 20000), q.q, :opts) AS snippet "
            "FROM q, best JOIN messages m ON m.pk = best.pk "
            "JOIN conversations c ON c.pk = best.conversation_pk"
        ),
        params,
    )
    title_rows = session.execute(
        text(
            "SELECT c.id, c.pk, c.title, NULL AS node_id, "
            f"{TITLE_BOOST} + ts_rank(c.title_tsv, q) AS score, "
            "ts_headline('english', coalesce(c.title, ''), q, :opts) AS snippet "
            "FROM conversations c, plainto_tsquery('english', :q) q "
            "WHERE c.title_tsv @@ q AND c.owner_id = :owner ORDER BY score DESC LIMIT :n"
        ),
        params,
    )
    return [Hit(**row._asdict()) for row in [*message_rows, *title_rows]]
