"""Full-text search over one owner's titles and message text.

SQLite uses the FTS5 tables (porter stemming); PostgreSQL the generated ``tsvector``
columns (english configuration) with their GIN indexes. Either way a query is a list of
words that must all appear (the user's text is never passed through as query syntax),
hits are grouped per conversation (its best message), and ``score`` is higher for
better matches; a title match counts extra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

TITLE_BOOST = 5.0
CANDIDATES = 200
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Hit:
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
        hits = _sqlite(session, owner_id=owner_id, query=query, mark=mark)
    else:
        hits = _postgres(session, owner_id=owner_id, query=query, mark=mark)
    best: dict[int, Hit] = {}
    for hit in hits:
        seen = best.get(hit.pk)
        if seen is None:
            best[hit.pk] = hit
        elif seen.node_id is None or hit.node_id is None:
            # a title hit and a message hit: keep the message snippet, add the boost
            keep = hit if seen.node_id is None else seen
            best[hit.pk] = Hit(
                keep.id, keep.pk, keep.title, keep.node_id, keep.snippet, seen.score + hit.score
            )
        elif hit.score > seen.score:
            best[hit.pk] = hit
    return sorted(best.values(), key=lambda h: -h.score)[:limit]


def _sqlite(session: Session, *, owner_id: str, query: str, mark: tuple[str, str]) -> list[Hit]:
    expression = fts5_query(query)
    params = {"q": expression, "owner": owner_id, "n": CANDIDATES, "a": mark[0], "b": mark[1]}
    message_rows = session.execute(
        text(
            "SELECT c.id, c.pk, c.title, m.node_id, "
            "snippet(messages_fts, 0, :a, :b, '…', 16) AS snippet, "
            "-bm25(messages_fts) AS score "
            "FROM messages_fts JOIN messages m ON m.pk = messages_fts.rowid "
            "JOIN conversations c ON c.pk = m.conversation_pk "
            "WHERE messages_fts MATCH :q AND c.owner_id = :owner "
            "ORDER BY bm25(messages_fts) LIMIT :n"
        ),
        params,
    )
    title_rows = session.execute(
        text(
            "SELECT c.id, c.pk, c.title, NULL AS node_id, "
            "highlight(conversations_fts, 0, :a, :b) AS snippet, "
            f"{TITLE_BOOST} - bm25(conversations_fts) AS score "
            "FROM conversations_fts JOIN conversations c ON c.pk = conversations_fts.rowid "
            "WHERE conversations_fts MATCH :q AND c.owner_id = :owner "
            "ORDER BY bm25(conversations_fts) LIMIT :n"
        ),
        params,
    )
    return [Hit(**row._asdict()) for row in [*message_rows, *title_rows]]


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
