"""The store -> files, in every export format, streaming one batch at a time.

Formats:

* ``json``: the official ``conversations.json`` shape (one array), lossless;
* ``markdown`` / ``html``: a folder with one file per conversation, named from a template;
* ``sharegpt`` / ``openai``: JSONL for fine-tuning (one record per conversation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sqlalchemy.orm import Session, sessionmaker

from parley.errors import BadRequest
from parley.formats import chatgpt, html, jsonl, markdown
from parley.store import conversations, search
from parley.store.db import transaction

Format = Literal["json", "markdown", "html", "sharegpt", "openai"]
FORMATS: tuple[str, ...] = ("json", "markdown", "html", "sharegpt", "openai")
SEARCH_LIMIT = 100_000


@dataclass(frozen=True)
class Selection:
    """Which conversations to export; every field narrows the set."""

    ids: Sequence[str] = ()
    since: float | None = None
    until: float | None = None
    search: str | None = None


@dataclass(frozen=True)
class Options:
    all_branches: bool = False
    include_reasoning: bool = False
    filename_template: str = "{date}-{title}"


def selected_pks(session: Session, *, owner_id: str, selection: Selection) -> list[int]:
    """Primary keys of the selected conversations, oldest first."""
    rows = conversations.summaries(
        session,
        owner_id=owner_id,
        order="created",
        limit=10**12,
        since=selection.since,
        until=selection.until,
        ids=list(selection.ids) or None,
    )
    pks = [row.pk for row in reversed(rows)]
    if selection.search:
        hits = search.search(session, owner_id=owner_id, query=selection.search, limit=SEARCH_LIMIT)
        matching = {hit.pk for hit in hits}
        pks = [pk for pk in pks if pk in matching]
    return pks


def iter_selected(
    factory: sessionmaker[Session], *, owner_id: str, selection: Selection
) -> Iterator[dict[str, Any]]:
    with transaction(factory) as session:
        pks = selected_pks(session, owner_id=owner_id, selection=selection)
        yield from conversations.load_many(session, pks=pks)


def count_selected(factory: sessionmaker[Session], *, owner_id: str, selection: Selection) -> int:
    with transaction(factory) as session:
        return len(selected_pks(session, owner_id=owner_id, selection=selection))


def _each(items: Iterator[dict[str, Any]], tick: Callable[[], None] | None) -> Iterator[Any]:
    for item in items:
        yield item
        if tick:
            tick()


def write(
    items: Iterator[dict[str, Any]],
    *,
    fmt: str,
    output: Path | BinaryIO,
    options: Options = Options(),
    tick: Callable[[], None] | None = None,
) -> int:
    """Write ``items`` in ``fmt`` to ``output`` (a file, a folder for markdown/html, or a
    binary stream for json/sharegpt/openai); returns how many conversations were written."""
    if fmt not in FORMATS:
        raise BadRequest(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    stream = _each(items, tick)
    if fmt in ("markdown", "html"):
        if not isinstance(output, Path):
            raise BadRequest(f"{fmt} export writes one file per conversation: give a folder")
        return _write_folder(stream, fmt=fmt, folder=output, options=options)
    if isinstance(output, Path):
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("wb") as handle:
            return write(stream, fmt=fmt, output=handle, options=options)
    if fmt == "json":
        return chatgpt.write_export(stream, output)
    convert = jsonl.to_sharegpt if fmt == "sharegpt" else jsonl.to_openai
    return jsonl.write_jsonl((convert(item) for item in stream), output)


def _write_folder(
    items: Iterator[dict[str, Any]], *, fmt: str, folder: Path, options: Options
) -> int:
    if folder.exists() and not folder.is_dir():
        raise BadRequest(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    taken = {path.stem + ".md" for path in folder.iterdir()}  # filename_for names end in .md
    written = 0
    for item in items:
        name = markdown.filename_for(item, options.filename_template, taken)
        if fmt == "markdown":
            body = markdown.to_markdown(
                item,
                all_branches=options.all_branches,
                include_reasoning=options.include_reasoning,
            )
        else:
            name = name[: -len(".md")] + ".html"
            body = html.to_html(
                item,
                all_branches=options.all_branches,
                include_reasoning=options.include_reasoning,
            )
        (folder / name).write_text(body, encoding="utf-8")
        written += 1
    return written
