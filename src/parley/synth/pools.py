"""Precomputed text pools for :mod:`parley.synth`, built once per process from a fixed seed.

A given ``(seed, index)`` therefore always yields the same text. The pools hold plausible
English prose, user questions, Markdown (lists, tables, links), code fences in several
languages, LaTeX and non-English text, drawn from the lists in :mod:`parley.synth.text`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from parley.synth.text import (
    ADJECTIVES,
    CLAUSES,
    CODE,
    EMOJI,
    FOREIGN,
    LANGUAGE_TITLES,
    MATH,
    NOUNS,
    QUESTIONS,
    SUBJECTS,
    TITLE_TEMPLATES,
    TOPICS,
    URLS,
    VERBS,
)


@dataclass(frozen=True)
class Pools:
    """Precomputed text blocks; ``blocks`` is prose + rich, ``block_len`` their mean length."""

    prose: tuple[str, ...]
    rich: tuple[str, ...]
    questions: tuple[str, ...]
    titles: tuple[str, ...]
    foreign: tuple[str, ...]
    blocks: tuple[str, ...]
    block_len: float


def _sentence(rng: random.Random) -> str:
    adjective = rng.choice(ADJECTIVES)
    article = "an" if adjective[0] in "aeiou" else "a"
    return (
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(NOUNS)} in {article} "
        f"{adjective} way, {rng.choice(CLAUSES)}."
    )


def _paragraph(rng: random.Random) -> str:
    sentences = [_sentence(rng) for _ in range(rng.randint(2, 5))]
    roll = rng.random()
    if roll < 0.15:
        sentences.append(f"See [the docs]({rng.choice(URLS)}) for details.")
    elif roll < 0.25:
        sentences.append(
            f"Use `{rng.choice(NOUNS).replace(' ', '_')}` sparingly {rng.choice(EMOJI)}"
        )
    elif roll < 0.3:
        sentences.append(rng.choice(FOREIGN))
    elif roll < 0.4:
        sentences[0] = "**Note:** " + sentences[0]
    return " ".join(sentences)


def _name(rng: random.Random) -> str:
    return rng.choice(("parse", "load", "merge", "total", "walk", "fetch", "render")) + (
        "_" + rng.choice(("items", "rows", "tree", "batch", "data"))
    )


def _rich(rng: random.Random) -> str:
    kind = rng.randrange(5)
    topic = rng.choice(TOPICS)
    if kind == 0:
        lang = rng.choice(sorted(CODE))
        name = _name(rng)
        camel = "".join(p.title() for p in name.split("_"))
        body = CODE[lang].format(n=name, N=camel)
        return f"Here is an example in {lang}:\n\n```{lang}\n{body}\n```"
    if kind == 1:
        cols = rng.sample(["Option", "Speed", "Memory", "Complexity", "Notes", "Cost"], 3)
        rows = [f"| {' | '.join(cols)} |", "|" + "---|" * len(cols)]
        for _ in range(rng.randint(2, 5)):
            cells = [rng.choice(ADJECTIVES), f"{rng.randint(1, 999)} ms", rng.choice(NOUNS)]
            rows.append(f"| {' | '.join(cells)} |")
        return "\n".join(rows)
    if kind == 2:
        return rng.choice(MATH).format(t=topic)
    if kind == 3:
        numbered = rng.random() < 0.5
        items = []
        for i in range(rng.randint(3, 6)):
            mark = f"{i + 1}." if numbered else "-"
            label = f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)}"
            item = f"{mark} **{label}** — {_sentence(rng)}"
            if rng.random() < 0.2:
                item += f"\n   - sub-point: `{_name(rng)}()`"
            items.append(item)
        return f"### {topic.title()}\n\n" + "\n".join(items)
    return f"> {_sentence(rng)}\n\nMore in [{topic}]({rng.choice(URLS)}) {rng.choice(EMOJI)}"


def _fill(template: str, rng: random.Random) -> str:
    t, u = rng.sample(TOPICS, 2)
    return template.format(t=t, u=u, T=t[:1].upper() + t[1:])


@cache
def pools() -> Pools:
    """The shared, immutable text pools (built once per process from a fixed seed)."""
    rng = random.Random("parley-synth-text-v1")
    prose = tuple(_paragraph(rng) for _ in range(800))
    rich = tuple(_rich(rng) for _ in range(400))
    questions = tuple(_fill(rng.choice(QUESTIONS), rng) for _ in range(600))
    titles = tuple(_fill(rng.choice(TITLE_TEMPLATES), rng) for _ in range(400)) + LANGUAGE_TITLES
    blocks = prose + rich
    return Pools(
        prose=prose,
        rich=rich,
        questions=questions,
        titles=titles,
        foreign=FOREIGN,
        blocks=blocks,
        block_len=sum(map(len, blocks)) / len(blocks),
    )
