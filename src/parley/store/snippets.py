"""Snippets for search hits, made from the message text in Python.

SQLite's ``snippet()`` re-evaluates the full-text query and tokenizes every returned
document: for a common word that cost more than the ranking itself. A hit's text is read
by primary key instead, and :func:`snippet` cuts a window around the first place a query
word occurs, marking every occurrence in it.

A word matches its inflections the way a reader expects of a stemmed search: ``bake``
finds ``baked`` and ``baking``, ``kneading`` finds ``Knead``; case and the accents of
Latin letters are ignored (``belem`` finds ``Belém``). This only places and marks the
snippet: which messages match, and how they rank, is the index's business.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WINDOW_BEFORE = 60  # characters of context before the first match
WINDOW_AFTER = 140  # and after it
ELLIPSIS = "…"
_SUFFIXES = ("ingly", "edly", "ings", "ing", "ies", "ied", "ed", "es", "ly", "s", "e")


def _fold_table() -> dict[int, str]:
    """Accented Latin letters -> their base letter, one character for one (positions
    in the folded text are positions in the original)."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        base = unicodedata.normalize("NFKD", chr(code))[:1]
        if base and base.isascii() and base.isalpha() and base != chr(code):
            table[code] = base
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    return text.translate(_FOLD).lower()


def stem(word: str) -> str:
    """The part of ``word`` its inflections share (at least three letters of it)."""
    word = fold(word)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=512)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    stems = sorted({stem(word) for word in words}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, stems)) + r")\w*")


def snippet(text: str, words: list[str], mark: tuple[str, str]) -> str:
    """A window of ``text`` around the first match of ``words``, matches marked."""
    if not text:
        return ""
    pattern = _pattern(tuple(words))
    folded = fold(text)
    first = pattern.search(folded)
    center = first.start() if first else 0
    start = max(0, center - WINDOW_BEFORE)
    end = min(len(text), center + WINDOW_AFTER)
    if start:  # begin and end on word boundaries
        space = text.find(" ", start, center)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", center, end)
        end = space if space > center else end
    pieces: list[str] = [ELLIPSIS] if start else []
    cursor = start
    for found in pattern.finditer(folded, start, end):
        pieces += [
            text[cursor : found.start()],
            mark[0],
            text[found.start() : found.end()],
            mark[1],
        ]
        cursor = found.end()
    pieces.append(text[cursor:end])
    if end < len(text):
        pieces.append(ELLIPSIS)
    return " ".join("".join(pieces).split())
