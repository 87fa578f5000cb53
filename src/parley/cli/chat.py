"""``parley ask`` and ``parley chat``: talk to a model from the terminal, every turn stored.

Both use the backends configured for the server (``PARLEY_OPENAI_BASE_URL``,
``PARLEY_CONFIG``, ...) and the library in ``PARLEY_HOME`` / ``PARLEY_DATABASE_URL``,
through the same chat engine as the HTTP APIs, so a turn made here is a node of the tree
like any other.

* ``parley ask PROMPT [--conversation ID] [--model M]``: the answer streams to stdout as
  it arrives; the conversation's id goes to stderr (``--json`` prints one JSON object at
  the end instead). A failed call keeps the prompt and the partial answer and exits 1.
* ``parley chat [ID]``: an interactive chat that streams each answer; it continues
  conversation ``ID`` (showing its last messages) or starts a new one. Commands:
  ``/new``, ``/regenerate``, ``/model NAME``, ``/help``, ``/quit`` (or Ctrl-D). Ctrl-C while an
  answer streams stops that answer (the part received is kept) and returns to the prompt.

Text from models is printed with terminal control sequences removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
import typer

from parley import tree
from parley.chat.answering import Delta, Event, Turn, TurnFailed
from parley.chat.engine import ChatEngine
from parley.chat.router import BackendRegistry
from parley.cli.context import Context, console, err_console, exits_cleanly, get_context, plain
from parley.cli.transfer import JsonOption, UserOption
from parley.errors import ParleyError
from parley.store import conversations

ConversationOption = Annotated[
    str | None,
    typer.Option("--conversation", "-c", help="Go on in this conversation (default: a new one)."),
]
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="The model (default: PARLEY_DEFAULT_MODEL).")
]
HISTORY = 6  # messages shown when `parley chat ID` resumes a conversation


def engine_for(ctx: Context) -> ChatEngine:
    # a failed model listing is named by the error it leads to: not logged here as well
    logging.getLogger("parley.chat.discovery").setLevel(logging.ERROR)
    registry = BackendRegistry.from_settings(ctx.settings)
    return ChatEngine(ctx.factory, registry, autocontinue_rounds=ctx.settings.autocontinue_rounds)


async def show(events: AsyncIterator[Event], *, echo: bool = True) -> Turn:
    """Print the answer's text as it arrives; return the stored turn."""
    try:
        async for event in events:
            if isinstance(event, Delta) and echo:
                sys.stdout.write(plain(event.text))
                sys.stdout.flush()
            elif isinstance(event, Turn):
                if echo:
                    sys.stdout.write("\n")
                return event
    except TurnFailed:
        if echo:
            sys.stdout.write("\n")
        raise
    raise RuntimeError("the answer ended without being stored")


def ask_command(
    prompt: Annotated[str, typer.Argument(help="What to ask.", show_default=False)],
    conversation: ConversationOption = None,
    model: ModelOption = None,
    autocontinue: Annotated[
        bool, typer.Option(help="Continue answers cut off by the length limit.")
    ] = False,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask a model once; the answer streams here and is stored in the library."""
    ctx = get_context()
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        engine = engine_for(ctx)

        async def run() -> Turn:
            try:
                events = engine.ask(
                    owner_id=owner_id,
                    prompt=prompt,
                    conversation_id=conversation,
                    model=model,
                    autocontinue=autocontinue,
                )
                return await show(events, echo=not as_json)
            finally:
                await engine.backends.aclose()

        turn = asyncio.run(run())
    if as_json:
        sys.stdout.write(orjson.dumps(summary(turn)).decode() + "\n")
    else:
        err_console.print(
            f"[dim]conversation {turn.conversation_id} · message {turn.node_id} · "
            f"{plain(turn.model or '')}[/dim]",
            highlight=False,
        )


def summary(turn: Turn) -> dict[str, Any]:
    meta = turn.message["metadata"]
    return {
        "conversation_id": turn.conversation_id,
        "id": turn.node_id,
        "parent_id": turn.parent_id,
        "model": turn.model,
        "finish_details": meta.get("finish_details", {}).get("type"),
        "message": turn.text,
    }


def chat_command(
    conversation: Annotated[
        str | None,
        typer.Argument(
            help="A conversation to go on with (default: a new one).", show_default=False
        ),
    ] = None,
    model: ModelOption = None,
    user: UserOption = None,
) -> None:
    """Chat interactively; answers stream as they are written, every turn is stored."""
    ctx = get_context()
    with exits_cleanly():
        owner_id = ctx.user_id(user)
        if conversation is not None:
            with ctx.session() as session:
                data = conversations.load(session, owner_id=owner_id, conversation_id=conversation)
            console.print(
                f"[bold]{plain(data.get('title') or '(untitled)')}[/bold]", highlight=False
            )
            for message in tree.visible_messages(data)[-HISTORY:]:
                _label(tree.role(message) or "?")
                console.print(plain(tree.message_text(message)), markup=False, highlight=False)
        engine = engine_for(ctx)
        asyncio.run(_session(engine, owner_id, conversation, model))


COMMANDS = "/new · /regenerate · /model NAME · /help · /quit (or Ctrl-D)"
HELP = """/new            start a new conversation with your next message
/regenerate     answer your last message again (a sibling answer; both are kept)
/model NAME     ask NAME from now on (/model alone: the default model)
/help           this list
/quit           leave (or Ctrl-D); Ctrl-C stops an answer as it streams"""


def _label(role: str) -> None:
    style = "bold cyan" if role == "user" else "bold green"
    console.print(f"[{style}]{role}[/{style}] › ", end="", highlight=False)


async def _session(
    engine: ChatEngine, owner_id: str, conversation: str | None, model: str | None
) -> None:
    console.print(f"[dim]{COMMANDS}[/dim]")
    last: Turn | None = None
    try:
        while True:
            try:
                line = await asyncio.to_thread(console.input, "[bold cyan]you[/bold cyan] › ")
            except (EOFError, KeyboardInterrupt):
                console.print()
                return
            text = line.strip()
            if not text:
                continue
            if text in ("/quit", "/exit", "/q"):
                return
            if text in ("/help", "/?"):
                console.print(f"[dim]{HELP}[/dim]")
                continue
            if text == "/new":
                conversation, last = None, None
                console.print("[dim]a new conversation starts with your next message[/dim]")
                continue
            if text.startswith("/model"):
                model = text.partition(" ")[2].strip() or None
                console.print(f"[dim]model: {plain(model or 'the default')}[/dim]", highlight=False)
                continue
            if text == "/regenerate":
                if last is None:
                    console.print("[dim]nothing to regenerate yet[/dim]")
                    continue
                events = engine.regenerate(
                    owner_id=owner_id,
                    conversation_id=last.conversation_id,
                    node_id=last.node_id,
                    model=model,
                )
            elif text.startswith("/"):
                console.print(
                    f"[dim]unknown command {plain(text)}; the commands: {COMMANDS}[/dim]",
                    highlight=False,
                )
                continue
            else:
                events = engine.ask(
                    owner_id=owner_id, prompt=line, conversation_id=conversation, model=model
                )
            turn = await _turn(events)
            if turn is not None:
                last, conversation = turn, turn.conversation_id
    finally:
        await engine.backends.aclose()


async def _turn(events: Any) -> Turn | None:
    """One answer, streamed; Ctrl-C stops it (what arrived is kept). None if it failed."""
    _label("assistant")
    task = asyncio.ensure_future(show(events))
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        console.print("\n[dim]stopped; the part received is kept[/dim]")
    except TurnFailed as failed:
        err_console.print(f"[red]error:[/red] {plain(failed.detail)}", highlight=False)
    except ParleyError as error:  # 503 (no backend), 404 ...: say so, stay in the chat
        err_console.print(f"[red]error:[/red] {plain(error.detail)}", highlight=False)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
    return None
