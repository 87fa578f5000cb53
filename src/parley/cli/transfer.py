"""``parley import``, ``parley export`` and ``parley demo``: moving conversations in and out."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from parley import exporter, synth
from parley.cli.context import console, err_console, exits_cleanly, get_context, parse_when
from parley.formats.chatgpt import RawConversation, ZipLimits, total_bytes
from parley.importer import Importer, ImportReport, import_paths
from parley.store import conversations

UserOption = Annotated[
    str | None,
    typer.Option("--user", "-u", help="Act on this user's library (default: the local owner)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class RateColumn(ProgressColumn):
    """Conversations done and conversations per second."""

    def render(self, task: Task) -> Text:
        done = task.fields.get("conversations", 0)
        elapsed = task.elapsed or 0.0
        rate = done / elapsed if elapsed > 0 else 0.0
        return Text(f"{done:,} conversations  {rate:,.0f}/s", style="progress.data.speed")


def import_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Export ZIPs, conversations*.json files, folders, or single conversation JSON.",
            show_default=False,
        ),
    ],
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import ChatGPT data exports into the library.

    Accepts the export ZIP (legacy conversations.json or 2026 sharded
    conversations-NNN.json), a bare conversations.json or shard, a wrapped
    {"conversations": [...]}, a folder of these, or one backend-api conversation.
    Files are streamed, so size does not matter. Importing the same export again changes
    nothing; a newer export updates what changed; an interrupted import can simply be run
    again. Conversations that cannot be read are listed and skipped.
    """
    ctx = get_context()
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        limits = ZipLimits(
            max_ratio=ctx.settings.max_zip_ratio,
            max_total_bytes=ctx.settings.max_unzipped_bytes,
        )
        total = total_bytes(paths)
        started = time.perf_counter()
        with Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            TaskProgressColumn(),
            TransferSpeedColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=as_json and not err_console.is_terminal,
        ) as progress:
            task = progress.add_task("import", total=total, conversations=0)
            done = 0

            def on_conversation() -> None:
                nonlocal done
                done += 1
                progress.update(task, conversations=done)

            report = import_paths(
                ctx.factory,
                paths=paths,
                owner_id=owner_id,
                limits=limits,
                on_bytes=lambda n: progress.advance(task, n),
                on_conversation=on_conversation,
            )
        _print_report(report, as_json=as_json, seconds=time.perf_counter() - started)


def _print_report(report: ImportReport, *, as_json: bool, seconds: float) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(report.as_json()).decode() + "\n")
        return
    console.print(
        f"[green]{report.imported:,} imported[/green], {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, "
        f"[{'red' if report.failed else 'green'}]{len(report.failed):,} failed[/] "
        f"in {seconds:.1f}s"
    )
    for failure in report.failed[:20]:
        console.print(f"  [red]✗[/red] {failure['id']}: {failure['reason']}", markup=True)
    if len(report.failed) > 20:
        console.print(f"  … and {len(report.failed) - 20} more (use --json for all)")


def export_command(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Only these conversation ids (default: all).", show_default=False),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="json (conversations.json, lossless), markdown or html (a folder, one file "
            "per conversation), sharegpt or openai (JSONL training data).",
        ),
    ] = "json",
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="File (json, sharegpt, openai; '-' for stdout) or folder."
        ),
    ] = "-",
    since: Annotated[
        str | None, typer.Option(help="Only conversations created on or after this date.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only conversations created before this date.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Only conversations matching this text.")
    ] = None,
    all_branches: Annotated[
        bool, typer.Option(help="markdown/html: add every other branch, clearly marked.")
    ] = False,
    include_reasoning: Annotated[
        bool, typer.Option(help="markdown/html: include the model's reasoning.")
    ] = False,
    filename_template: Annotated[
        str,
        typer.Option(help="markdown/html file names; fields {title}, {date}, {id}."),
    ] = "{date}-{title}",
    user: UserOption = None,
) -> None:
    """Export conversations from the library."""
    ctx = get_context()
    if fmt not in exporter.FORMATS:
        raise typer.BadParameter(
            f"choose one of {', '.join(exporter.FORMATS)}", param_hint="--format"
        )
    if output == "-" and fmt in ("markdown", "html"):
        raise typer.BadParameter(f"{fmt} needs a folder", param_hint="--output")
    selection = exporter.Selection(
        ids=ids or (),
        since=parse_when(since, option="--since"),
        until=parse_when(until, option="--until"),
        search=search,
    )
    options = exporter.Options(
        all_branches=all_branches,
        include_reasoning=include_reasoning,
        filename_template=filename_template,
    )
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        total = exporter.count_selected(ctx.factory, owner_id=owner_id, selection=selection)
        items = exporter.iter_selected(ctx.factory, owner_id=owner_id, selection=selection)
        with Progress(
            TextColumn("[bold]exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=output == "-",
        ) as progress:
            task = progress.add_task("export", total=total)
            target = sys.stdout.buffer if output == "-" else Path(output)
            written = exporter.write(
                items,
                fmt=fmt,
                output=target,
                options=options,
                tick=lambda: progress.advance(task),
            )
        if output != "-":
            err_console.print(f"exported {written:,} conversations to {output}")


def demo_command(
    count: Annotated[int, typer.Option(min=1, help="How many conversations to generate.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    force: Annotated[bool, typer.Option(help="Add the demo even if the library has data.")] = False,
    user: UserOption = None,
) -> None:
    """Fill an empty library with a realistic synthetic history to try Parley with.

    Branches, code, tables, math, images, tool use, reasoning, citations and a few
    deliberately hostile titles are all in there.
    """
    ctx = get_context()
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        with ctx.session() as session:
            existing = conversations.count(session, owner_id=owner_id)
        if existing and not force:
            err_console.print(
                f"the library already has {existing:,} conversations; "
                "use --force to add the demo anyway"
            )
            raise typer.Exit(1)
        importer = Importer(ctx.factory, owner_id=owner_id)
        with Progress(
            TextColumn("[bold]generating"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err_console,
        ) as progress:
            task = progress.add_task("demo", total=count)
            now = time.time()
            history = synth.generate(count, seed=seed, start=now - 365 * 86400, not_after=now)
            for index, item in enumerate(history):
                raw = orjson.dumps(item)
                importer.add(RawConversation(raw=raw, data=item, source=f"demo[{index}]"))
                progress.advance(task)
            report = importer.finish()
        console.print(
            f"added {report.imported:,} demo conversations; try `parley ls` or `parley search`"
        )
