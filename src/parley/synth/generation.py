"""The entry point: :func:`generate`, plain or steered to a target size."""

from __future__ import annotations

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
) -> Iterator[Conversation]:
    """Yield ``count`` synthetic conversations (the contract is in :mod:`parley.synth`)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if span_days < 1:
        raise ValueError("span_days must be >= 1")
    if target_bytes is not None and target_bytes <= 0:
        raise ValueError("target_bytes must be positive")
    cal = Calendar(seed, start, span_days)
    if target_bytes is None:
        return (conversation_at(i, seed, cal, edge_cases, 1.0, pools())[0] for i in range(count))
    return steered(count, seed, cal, edge_cases, target_bytes)
