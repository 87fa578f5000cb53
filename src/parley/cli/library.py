"""``parley ls``, ``parley show`` and ``parley search``: reading the library in a terminal."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from parley import tree
from parley.cli.context import console, exits_cleanly, get_context, iso, plain
from parley.cli.transfer import JsonOption, UserOption
from parley.store import conversations, search

ROLE_STYLES = {"user": "bold cyan", "assistant": "bold green", "tool": "bold yellow"}


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(record).decode() + "\n")


def ls_command(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many to list.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    order: Annotated[str, typer.Option(help="updated or created.")] = "updated",
    archived: Annotated[
        bool | None,
        typer.Option("--archived/--not-archived", help="Only archived, or only not archived."),
    ] = None,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """List conversations, most recently updated first."""
    if order not in ("updated", "created"):
        raise typer.BadParameter("use updated or created", param_hint="--order")
    ctx = get_context()
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        with ctx.session() as session:
            rows = conversations.summaries(
                session,
                owner_id=owner_id,
                offset=offset,
                limit=limit,
                order=order,  # type: ignore[arg-type]
                is_archived=archived,
            )
            total = conversations.count(session, owner_id=owner_id, is_archived=archived)
    if as_json:
        for row in rows:
            _emit(
                {
                    "id": row.id,
                    "title": row.title,
                    "create_time": iso(row.create_time),
                    "update_time": iso(row.update_time),
                    "model": row.default_model_slug,
                    "messages": row.message_count,
                    "is_archived": row.is_archived,
                }
            )
        return
    table = Table(title=f"{len(rows)} of {total:,} conversations", title_justify="left")
    for column in ("id", "title", "updated", "model", "msgs"):
        table.add_column(column, overflow="fold" if column == "title" else "ellipsis")
    for row in rows:
        table.add_row(
            row.id,
            Text(plain(row.title or "(untitled)")),
            (iso(row.update_time) or "")[:16].replace("T", " "),
            row.default_model_slug or "",
            str(row.message_count),
        )
    console.print(table)


def show_command(
    conversation_id: Annotated[str, typer.Argument(help="The conversation id.")],
    hidden: Annotated[
        bool, typer.Option("--hidden", help="Also show system, tool and reasoning messages.")
    ] = False,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a conversation's visible branch (--json: the full export-shape object)."""
    ctx = get_context()
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        with ctx.session() as session:
            data = conversations.load(session, owner_id=owner_id, conversation_id=conversation_id)
    if as_json:
        _emit({"id": conversation_id, **data})
        return
    shape = tree.Tree.build(data.get("mapping"))
    path = shape.visible_path(data.get("current_node"))
    console.print(Text(plain(data.get("title") or "(untitled)"), style="bold underline"))
    branches = len(shape.leaves())
    if branches > 1:
        console.print(Text(f"{branches} branches; showing the current one", style="dim"))
    for node_id in path:
        message = shape.nodes[node_id].get("message")
        if not isinstance(message, dict) or (tree.is_hidden(message) and not hidden):
            continue
        who = tree.role(message) or "unknown"
        label = who + (f" · {tree.model_slug(message)}" if tree.model_slug(message) else "")
        body = plain(tree.message_text(message))
        renderable = Markdown(body) if who == "assistant" else Text(body)
        console.print(
            Panel(renderable, title=Text(label), title_align="left", style=ROLE_STYLES.get(who, ""))
        )


def search_command(
    query: Annotated[str, typer.Argument(help="Words to look for (all must appear).")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most results.")] = 20,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Full-text search over titles and messages, best matches first."""
    ctx = get_context()
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        with ctx.session() as session:
            hits = search.search(session, owner_id=owner_id, query=query, limit=limit)
    if as_json:
        for hit in hits:
            _emit(
                {
                    "id": hit.id,
                    "title": hit.title,
                    "node_id": hit.node_id,
                    "snippet": hit.snippet,
                    "score": round(hit.score, 4),
                }
            )
        return
    if not hits:
        console.print("no matches")
        return
    for hit in hits:
        console.print(
            Text.assemble((hit.id, "dim"), "  ", (plain(hit.title or "(untitled)"), "bold"))
        )
        console.print(Text("    " + plain(hit.snippet).replace("\n", " ")))
