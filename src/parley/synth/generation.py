"""The entry point: :func:`generate`, plain or steered to a target size."""

from __future__ import annotations

import math
from collections.abc import Iterator

from parley.synth.content import Conversation
from parley.synth.edges import conversation_at
from parley.synth.pools import pools
from parley.synth.sizing import steered
from parley.synth.timeline import Calendar


def generate(
    count: int,
    *,
    seed: int = 0,
    start: float = 1_700_000_000.0,
    span_days: int = 365,
    edge_cases: bool = True,
    target_bytes: int | None = None,
    not_after: float | None = None,
) -> Iterator[Conversation]:
    """Yield ``count`` synthetic conversations (the contract is in :mod:`parley.synth`)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if span_days < 1:
        raise ValueError("span_days must be >= 1")
    if target_bytes is not None and target_bytes <= 0:
        raise ValueError("target_bytes must be positive")
    cal = Calendar(seed, start, span_days)
    items: Iterator[Conversation]
    if target_bytes is None:
        items = (conversation_at(i, seed, cal, edge_cases, 1.0, pools())[0] for i in range(count))
    else:
        items = steered(count, seed, cal, edge_cases, target_bytes)
    if not_after is None:
        return items
    limit = not_after
    return (ending_by(item, limit) for item in items)


def ending_by(conversation: Conversation, limit: float) -> Conversation:
    """``conversation`` moved back in time as a whole, to the second, so that none of its
    times (its own and its messages' ``create_time`` and ``update_time``) is after
    ``limit``; unchanged when none is. A conversation goes on after it began, sometimes for
    days, so one that begins near the end of the span can end past it."""
    holders: list[dict[str, object]] = [conversation]
    mapping = conversation.get("mapping")
    if isinstance(mapping, dict):
        for node in mapping.values():
            if isinstance(node, dict) and isinstance(node.get("message"), dict):
                holders.append(node["message"])
    times = [
        value
        for holder in holders
        for key in ("create_time", "update_time")
        if isinstance(value := holder.get(key), int | float) and not isinstance(value, bool)
    ]
    late = max(times, default=limit) - limit
    if late <= 0:
        return conversation
    shift = math.ceil(late)
    for holder in holders:
        for key in ("create_time", "update_time"):
            value = holder.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                holder[key] = round(value - shift, 6)
    return conversation
