"""What the edge-case modules share: the builder type, the registry decorator, begin, chat."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from parley.synth.builder import Builder
from parley.synth.content import Conversation, text_content

EdgeBuilder = Callable[[random.Random, float], Conversation]


def registrar(
    cases: dict[str, EdgeBuilder],
) -> Callable[[str], Callable[[EdgeBuilder], EdgeBuilder]]:
    """A ``@edge("name")`` decorator that files each builder into ``cases`` under its name."""

    def edge(name: str) -> Callable[[EdgeBuilder], EdgeBuilder]:
        def register(build: EdgeBuilder) -> EdgeBuilder:
            cases[name] = build
            return build

        return register

    return edge


def begin(
    rng: random.Random, t: float, name: str, slug: str = "gpt-4o", new_era: bool = True
) -> tuple[Builder, str]:
    return Builder(rng, t, slug, new_era=new_era), f"edge-{name}-{rng.getrandbits(48):012x}"


def chat(b: Builder, *texts: str) -> dict[str, Any]:
    """Alternating user/assistant text messages appended to the current branch."""
    for i, text in enumerate(texts):
        b.add(
            "user" if i % 2 == 0 else "assistant", text_content(text), end_turn=i % 2 == 1 or None
        )
    return b.last
