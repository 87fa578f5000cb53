"""``parley sync``: pull conversations from a ChatGPT-style backend API (see parley.sync).

Exit status: 0 when everything listed was synced, 1 when some conversations or list pages
still failed (run the command again to retry them), 2 for bad input or a refused token.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from parley.cli.context import console, err_console, exits_cleanly, get_context, plain
from parley.cli.transfer import JsonOption, UserOption
from parley.sync import SyncReport, run_sync


def sync_command(
    remote: Annotated[
        str,
        typer.Option(
            "--from",
            help="The server: https://chatgpt.com, or another Parley (http://host:port).",
            show_default=False,
        ),
    ],
    token: Annotated[
        str,
        typer.Option(
            envvar="PARLEY_SYNC_TOKEN",
            help="Its bearer token (with or without 'Bearer '). Prefer the PARLEY_SYNC_TOKEN "
            "variable: command lines are visible to other local users.",
            show_default=False,
        ),
    ],
    user: UserOption = None,
    list_only: Annotated[
        bool,
        typer.Option("--list-only", help="Only list the conversations (needs --output)."),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the conversation list here (raw format)."),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Fetch every conversation, changed or not.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Sync conversations from a ChatGPT-style backend API into the library.

    Lists the server's conversations 100 at a time, then fetches each one whose
    update_time changed since the last sync. Rate limits (429, Retry-After), server errors
    and dropped connections are retried with backoff; an interrupted run continues where
    it stopped when run again (state in PARLEY_HOME/sync; the token is never stored).
    """
    if list_only and output is None:
        raise typer.BadParameter(
            "--list-only writes the list to --output FILE", param_hint="--output"
        )
    ctx = get_context()
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        with Progress(
            TextColumn("[bold]{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err_console,
            disable=as_json and not err_console.is_terminal,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, total: int | None) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done, total=total)

            report = run_sync(
                ctx.factory,
                home=ctx.settings.home,
                remote_url=remote,
                token=token,
                owner_id=owner_id,
                list_only=list_only,
                output=output,
                full=full,
                progress=progress,
            )
    _print(report, as_json=as_json, output=output)
    if report.failed or report.failed_offsets:
        raise typer.Exit(1)


def _print(report: SyncReport, *, as_json: bool, output: Path | None) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(report.as_json()).decode() + "\n")
        return
    expected = "" if report.expected_total is None else f" of {report.expected_total:,}"
    console.print(
        f"{'resumed: ' if report.resumed else ''}listed {report.listed:,}{expected} conversations; "
        f"fetched {report.fetched:,} ({report.imported:,} new, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged); {report.skipped:,} unchanged since the last sync",
        highlight=False,
    )
    if output is not None:
        console.print(f"wrote the list to {output}", highlight=False)
    if report.failed_offsets:
        console.print(f"[red]list pages failed at offsets {report.failed_offsets}[/red]")
    for failure in report.failed[:20]:
        console.print(f"  [red]✗[/red] {plain(failure['id'])}: {plain(failure['reason'])}")
    if report.failed or report.failed_offsets:
        console.print("run the same command again to retry what failed")
