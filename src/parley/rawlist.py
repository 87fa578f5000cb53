"""The heatmap seed's raw data: the conversation list as one JSON file.

``{"conversations": [list items], "exportDate", "totalCount", "failedOffsets",
"isComplete", "expectedTotal"}``: list items are conversations as ChatGPT's list has them
(``GET /backend-api/conversations``: ISO times, ``mapping`` null), ``exportDate`` is
JavaScript's ``toISOString()`` (UTC, milliseconds), ``totalCount`` the items written,
``expectedTotal`` the total the source reported and ``isComplete`` true when no list page
failed and ``totalCount >= expectedTotal``. Written as a stream: memory does not grow with
the library. Used by ``GET /api/activity/raw``, ``parley heatmap --raw`` and
``parley sync --list-only``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy.orm import Session

from parley.store import activity, conversations
from parley.store.conversations import Summary


@lru_cache(maxsize=65536)
def iso_z(epoch: float | None) -> str | None:
    """``2024-12-22T07:37:07.270530Z``, as ChatGPT's conversation list has times.

    Cached: list pages show the same times again and again."""
    if epoch is None:
        return None
    try:
        moment = datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):  # an imported time no calendar holds
        return None
    return moment.isoformat(timespec="microseconds") + "Z"


def export_date(now: float) -> str:
    """``2024-12-22T09:23:56.397Z`` (JavaScript's ``toISOString()``, as the seed)."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def list_item(row: Summary) -> dict[str, Any]:
    """A conversation as ChatGPT lists it (as ``GET /backend-api/conversations`` does)."""
    return {
        "id": row.id,
        "title": row.title,
        "create_time": iso_z(row.create_time),
        "update_time": iso_z(row.update_time),
        "mapping": None,
        "current_node": None,
        "conversation_template_id": row.template_id,
        "gizmo_id": row.gizmo_id,
        "is_archived": row.is_archived,
        "is_starred": row.is_starred,
        "is_unread": False,
        "default_model_slug": row.default_model_slug,
        "conversation_origin": None,
        "snippet": None,
        "workspace_id": None,
        "async_status": None,
        "safe_urls": [],
    }


def list_items(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """:func:`list_item` for each of ``rows`` (``conversations.LIST_COLUMNS``), in one pass:
    a list page builds a hundred of these per request."""
    iso = iso_z
    return [
        {
            "id": r[0],
            "title": r[1],
            "create_time": iso(r[2]),
            "update_time": iso(r[3]),
            "mapping": None,
            "current_node": None,
            "conversation_template_id": r[8],
            "gizmo_id": r[7],
            "is_archived": r[4] == 1,  # SQLite's 0/1 and PostgreSQL's bools alike
            "is_starred": r[5] == 1,
            "is_unread": False,
            "default_model_slug": r[6],
            "conversation_origin": None,
            "snippet": None,
            "workspace_id": None,
            "async_status": None,
            "safe_urls": [],
        }
        for r in rows
    ]


FRAGMENTS_KEPT = 20_000
_fragments: dict[tuple[Any, ...], orjson.Fragment] = {}


def list_fragments(rows: Sequence[tuple[Any, ...]]) -> list[orjson.Fragment]:
    """:func:`list_items`, each already serialized, memoized by the row's values.

    The key is the whole row, so a conversation whose listed fields change is rendered
    anew; the database is still read on every request, only the rendering of an unchanged
    row is remembered (at most FRAGMENTS_KEPT of them, then the memo starts over).
    """
    out: list[orjson.Fragment] = []
    for row in rows:
        fragment = _fragments.get(row)
        if fragment is None:
            if len(_fragments) >= FRAGMENTS_KEPT:
                _fragments.clear()
            fragment = orjson.Fragment(orjson.dumps(list_items([row])[0]))
            _fragments[row] = fragment
        out.append(fragment)
    return out


def raw_chunks(
    items: Iterable[dict[str, Any]],
    *,
    expected_total: int,
    exported_at: float,
    failed_offsets: Sequence[int] = (),
) -> Iterator[bytes]:
    """The seed's raw file, streamed: ``{"conversations", "exportDate", "totalCount",
    "failedOffsets", "isComplete", "expectedTotal"}``. Complete means no failed offsets and
    at least ``expected_total`` conversations."""
    count = 0
    yield b'{"conversations":['
    for item in items:
        yield (b",\n" if count else b"\n") + orjson.dumps(item)
        count += 1
    tail = {
        "exportDate": export_date(exported_at),
        "totalCount": count,
        "failedOffsets": sorted(failed_offsets),
        "isComplete": not failed_offsets and count >= expected_total,
        "expectedTotal": expected_total,
    }
    yield b"\n]," + orjson.dumps(tail)[1:] + b"\n"


def library_raw(session: Session, *, owner_id: str, exported_at: float) -> Iterator[bytes]:
    """The owner's whole conversation list as the seed's raw file (newest update first)."""
    total = conversations.count(session, owner_id=owner_id)
    items = (list_item(row) for row in activity.all_summaries(session, owner_id=owner_id))
    yield from raw_chunks(items, expected_total=total, exported_at=exported_at)
