"""``parley``: the command-line entry point. Each command group lives in its own module."""

from __future__ import annotations

import typer

from parley import __version__
from parley.cli import agents, library, server, transfer
from parley.cli import heatmap as heatmap_cli
from parley.cli import sync as sync_cli
from parley.cli.chat import ask_command, chat_command

app = typer.Typer(
    name="parley",
    help="Parley: a self-hosted home for your AI conversations. Import ChatGPT exports, "
    "browse and search them, export them as Markdown, HTML or training data; chat with any "
    "OpenAI-compatible model (`parley ask`, `parley chat`); serve it all, with sharing and "
    "every API dialect, on one port (`parley serve`).\n\n"
    "Data lives in PARLEY_HOME (default ~/.local/share/parley) unless PARLEY_DATABASE_URL "
    "points elsewhere.",
    rich_markup_mode="markdown",  # a docstring's paragraphs reflow to the terminal's width
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Manage the library's database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

app.command("import")(transfer.import_command)
app.command("export")(transfer.export_command)
app.command("ls")(library.ls_command)
app.command("show")(library.show_command)
app.command("search")(library.search_command)
app.command("demo")(transfer.demo_command)
app.command("serve")(server.serve_command)
app.add_typer(server.users_app, name="users")
app.add_typer(agents.agents_app, name="agents")
app.command("agent")(agents.agent_command)
app.command("heatmap")(heatmap_cli.heatmap_command)
app.command("sync")(sync_cli.sync_command)
app.command("ask")(ask_command)
app.command("chat")(chat_command)


@app.command("version")
def version_command() -> None:
    """Print Parley's version."""
    typer.echo(__version__)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (they are also applied automatically on first use)."""
    from parley.cli.context import console, get_context
    from parley.store.db import create_db_engine
    from parley.store.migrate import current_revision, head_revision, upgrade

    ctx = get_context()
    engine = create_db_engine(ctx.settings.sqlalchemy_url)
    before = current_revision(engine)
    upgrade(engine)
    console.print(f"database at revision {head_revision()} (was {before or 'empty'})")


if __name__ == "__main__":
    app()
