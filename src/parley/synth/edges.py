"""The edge-case catalogue, and where its entries sit in the generated stream."""

from __future__ import annotations

import random

from parley.synth import edges_content, edges_shape, edges_tools
from parley.synth.builder import regular_conversation
from parley.synth.content import Conversation
from parley.synth.edges_kit import EdgeBuilder
from parley.synth.pools import Pools
from parley.synth.timeline import Calendar

EDGE_FIRST, EDGE_STRIDE = 10, 25
# The order is part of the output: entry k is built from ``Random(seed + k)`` and placed at
# index ``EDGE_FIRST + k * EDGE_STRIDE`` of :func:`parley.synth.generate`.
EDGE_CASE_NAMES: tuple[str, ...] = (
    "rich-markdown",
    "image-upload",
    "dalle-image",
    "voice",
    "python-tool",
    "browsing-legacy",
    "legacy-citations",
    "web-search",
    "reasoning",
    "custom-instructions",
    "system-error",
    "computer-use",
    "app-pairing",
    "unknown-type",
    "branches",
    "current-null",
    "current-missing",
    "no-id",
    "null-title",
    "dict-parts",
    "missing-fields",
    "hidden",
    "empty-placeholder",
    "parent-cycle",
    "dangling-child",
    "orphan",
    "hostile-html",
    "status",
    "single-message",
    "unicode",
    "null-create-time",
    "legacy-root",
    "project",
    "custom-gpt",
    "future-fields",
    "huge-message",
)
_BUILDERS = {**edges_content.CASES, **edges_tools.CASES, **edges_shape.CASES}
assert sorted(_BUILDERS) == sorted(EDGE_CASE_NAMES), "edge-case names and builders differ"
EDGES: tuple[tuple[str, EdgeBuilder], ...] = tuple((n, _BUILDERS[n]) for n in EDGE_CASE_NAMES)


def edge_case_conversations(*, seed: int = 0) -> list[Conversation]:
    """One conversation per catalogue entry, in :data:`EDGE_CASE_NAMES` order."""
    return [
        build(random.Random(seed + k), 1_700_000_000.0 + k * 86_400.0)
        for k, (_, build) in enumerate(EDGES)
    ]


def edge_slot(index: int, edge_cases: bool) -> int | None:
    if not edge_cases or index < EDGE_FIRST or (index - EDGE_FIRST) % EDGE_STRIDE:
        return None
    k = (index - EDGE_FIRST) // EDGE_STRIDE
    return k if k < len(EDGES) else None


def conversation_at(
    index: int, seed: int, cal: Calendar, edge_cases: bool, scale: float, p: Pools
) -> tuple[Conversation, int]:
    """Conversation ``index`` and its scaled text characters (-1 for an edge case)."""
    rng = random.Random(seed + index)
    k = edge_slot(index, edge_cases)
    if k is not None:
        return EDGES[k][1](rng, cal.time(rng)), -1
    return regular_conversation(rng, cal, scale, p)
