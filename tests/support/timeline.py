"""Conversations at chosen times, for the activity tests: what happened when is the point."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from parley.store import conversations
from parley.store.db import transaction
from parley.store.rows import explode


def at(text: str, tz: str = "UTC") -> float:
    """Epoch seconds of a local wall time, e.g. ``at("2024-03-10 01:30", "America/New_York")``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def chat(
    cid: str,
    created: float,
    *,
    messages: list[float | None] | None = None,
    model: str | None = "gpt-4o",
    hidden_at: float | None = None,
) -> dict[str, Any]:
    """root -> hidden system message (at ``hidden_at``, default ``created``) -> alternating
    user / assistant messages at the ``messages`` times (default: one user message at
    ``created``); assistant messages carry ``model``."""
    times = [created] if messages is None else messages
    mapping: dict[str, Any] = {
        "root": {"id": "root", "parent": None, "children": ["sys"], "message": None},
        "sys": {
            "id": "sys",
            "parent": "root",
            "children": [],
            "message": {
                "id": "sys",
                "author": {"role": "system"},
                "create_time": created if hidden_at is None else hidden_at,
                "content": {"content_type": "text", "parts": [""]},
                "metadata": {"is_visually_hidden_from_conversation": True},
            },
        },
    }
    parent = "sys"
    for i, when in enumerate(times):
        node = f"m{i}"
        role = "user" if i % 2 == 0 else "assistant"
        mapping[parent]["children"] = [node]
        mapping[node] = {
            "id": node,
            "parent": parent,
            "children": [],
            "message": {
                "id": node,
                "author": {"role": role},
                "create_time": when,
                "content": {"content_type": "text", "parts": [f"{role} {i}"]},
                "recipient": "all",
                "metadata": {"model_slug": model} if role == "assistant" and model else {},
            },
        }
        parent = node
    return {
        "id": cid,
        "title": f"chat {cid}",
        "create_time": created,
        "update_time": max([created, *(t for t in times if t is not None)]),
        "current_node": parent,
        "default_model_slug": model,
        "mapping": mapping,
    }


def store_all(factory: sessionmaker[Session], owner_id: str, items: list[dict[str, Any]]) -> None:
    exploded = [explode(item) for item in items]
    with transaction(factory) as session:
        conversations.save_many(session, owner_id=owner_id, items=exploded)
