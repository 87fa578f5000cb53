"""``parley agents add`` (issue agent tokens) and ``parley agent`` (run a worker agent).

Contracts:

* ``parley agents add NAME`` issues a token for the service user ``agent:NAME`` (created
  on first use) and prints it once; only its hash is stored (see
  :mod:`parley.web.api.agent_admin` for the rules);
* ``parley agent --server URL --token T --backend-url URL [--api-key K] [--model M]...
  [--concurrency N] [--agent-id ID]`` runs :class:`parley.agents.client.Agent` until
  stopped. ``--token`` and ``--api-key`` may come from PARLEY_AGENT_TOKEN and
  PARLEY_AGENT_API_KEY instead (command lines are visible to other local users). The
  first Ctrl-C (or SIGTERM) finishes the running requests and exits 0; a second one exits
  at once (130). A refused token or registration exits 2 with the hub's reason.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from parley.cli.context import console, err_console, exits_cleanly, get_context, plain
from parley.cli.transfer import JsonOption

if TYPE_CHECKING:
    from parley.agents.client import Agent

agents_app = typer.Typer(
    help="Manage agent tokens (for `parley agent` workers; shown once, stored hashed).",
    no_args_is_help=True,
)


@agents_app.command("add")
def agents_add(
    name: Annotated[str, typer.Argument(help="Agent name: letters, digits, '.', '_', '-'.")],
    as_json: JsonOption = False,
) -> None:
    """Issue an agent token for NAME and print it (once)."""
    import orjson

    from parley.agents.tokens import issue_agent_token

    ctx = get_context()
    with exits_cleanly(), ctx.session() as session:
        user, token = issue_agent_token(session, name=name)
    if as_json:
        typer.echo(orjson.dumps({"user_id": user.id, "name": user.name, "token": token}))
        return
    console.print(Text(f"agent token for {plain(user.name)} ({user.id})"))
    console.print(Text(f"token: {token}"), soft_wrap=True)
    err_console.print(
        "save the token now: it is shown only once and stored only as a hash.\n"
        "run a worker with: parley agent --server URL --token TOKEN --backend-url URL"
    )


def agent_command(
    server: Annotated[
        str, typer.Option(help="The Parley hub, e.g. http://127.0.0.1:8080 (or ws://...).")
    ],
    token: Annotated[
        str,
        typer.Option(
            envvar="PARLEY_AGENT_TOKEN",
            help="Agent token (from `parley agents add NAME` or POST /admin/agents/add).",
        ),
    ],
    backend_url: Annotated[
        str,
        typer.Option(
            "--backend-url",
            help="The local OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 "
            "(a URL without a path gets /v1).",
        ),
    ],
    api_key: Annotated[
        str | None,
        typer.Option(envvar="PARLEY_AGENT_API_KEY", help="API key for the local backend."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="A model to serve (repeat for several); NAME=LOCAL serves the backend's "
            "LOCAL model as NAME. Default: every model the backend lists at GET /models.",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Requests to run at once.")] = 1,
    agent_id: Annotated[
        str | None,
        typer.Option(help="Id to register as (default: one the hub assigns, kept on reconnect)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every event.")] = False,
) -> None:
    """Serve the models of a local OpenAI-compatible server to a Parley hub.

    Connects to SERVER/client/register over a WebSocket, announces the models, answers
    heartbeats and streams replies; reconnects with backoff when the connection drops.
    Ctrl-C finishes the requests in flight, then exits; a second Ctrl-C exits at once.
    """
    from parley.agents.client import Agent
    from parley.agents.options import AgentConfig

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = AgentConfig(
        server=server,
        token=token,
        backend_url=backend_url,
        api_key=api_key,
        models=list(model or []),
        concurrency=concurrency,
        agent_id=agent_id,
    )
    try:
        agent = Agent(config)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    with exits_cleanly(), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        status = runner.run(_run(agent))
    if status:
        raise typer.Exit(status)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (it comes with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _run(agent: Agent) -> int:
    from parley.agents.client import AgentRefused

    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal() -> None:
        nonlocal stopping
        if stopping:
            err_console.print("stopping now; running requests are cut")
            agent.abort()
            return
        stopping = True
        err_console.print(
            f"finishing {len(agent.tasks)} running requests, then exiting "
            "(press Ctrl-C again to exit now)"
        )
        agent.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await agent.run()
    except AgentRefused as error:
        err_console.print(f"[red]error:[/red] {plain(str(error))}", highlight=False)
        return 2
    except asyncio.CancelledError:
        return 130
    return 0
