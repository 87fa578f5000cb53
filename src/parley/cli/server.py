"""``parley serve`` and ``parley users``: run the server, manage who may use it.

Contracts:

* ``parley serve [PORT] [ADMIN_KEY]`` accepts the ChatGPT-API-server's positional form
  (``parley serve 8080 <ADMIN_KEY>``); a positional value wins over ``--port`` and over
  ``PARLEY_PORT`` / ``PARLEY_ADMIN_KEY``. :func:`serve_settings` builds the settings and
  :func:`startup_lines` the banner, so both are testable without starting uvicorn.
* With no admin key configured, one is generated on first start, printed once, and only
  its SHA-256 is kept (``PARLEY_HOME/admin_key.sha256``); later starts reuse the hash.
* ``parley users add`` prints a token once; only its hash is stored. ``users list`` shows
  token prefixes, never tokens. ``users delete`` removes the user, its tokens and its
  conversations.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from rich.text import Text

from parley.cli.context import console, err_console, exits_cleanly, get_context, plain
from parley.cli.transfer import JsonOption
from parley.config import Settings, load_settings
from parley.errors import NotFound
from parley.store import conversations, users
from parley.store.users import User

users_app = typer.Typer(
    help="Manage users and their API tokens (tokens are shown once and stored hashed).",
    no_args_is_help=True,
)


def serve_settings(
    port_argument: int | None = None,
    admin_key_argument: str | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
) -> Settings:
    """Settings for ``serve``: positional arguments, then options, then PARLEY_* variables."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    chosen = port_argument if port_argument is not None else port
    if chosen is not None:
        overrides["port"] = chosen
    if admin_key_argument:
        overrides["admin_key"] = admin_key_argument
    return load_settings(**overrides)


def startup_lines(settings: Settings) -> list[str]:
    """What ``serve`` prints before it starts; generates the admin key if there is none."""
    from parley.web.runtime import ADMIN_KEY_FILE, AdminKey

    key = AdminKey.load(settings)
    lines = [f"Parley is starting at {settings.base_url}"]
    if key.generated:
        lines += [
            f"admin key: {key.generated}",
            "  save it now: it is shown only this once and stored only as a hash.",
            f"  To generate a new one, delete {settings.home / ADMIN_KEY_FILE} and restart.",
        ]
    elif settings.admin_key:
        lines.append("admin key: the one given on the command line or in PARLEY_ADMIN_KEY")
    else:
        lines.append(
            f"admin key: the one generated earlier (its hash is in "
            f"{settings.home / ADMIN_KEY_FILE}; delete that file to generate a new one)"
        )
    lines.append(
        f"API docs: {settings.base_url}/docs · tokens: `parley users add NAME` "
        "or POST /admin/users/add"
    )
    return lines


def serve_command(
    port_argument: Annotated[
        int | None,
        typer.Argument(
            metavar="PORT",
            min=1,
            max=65535,
            help="Port to listen on (the ChatGPT-API-server form); wins over --port.",
            show_default=False,
        ),
    ] = None,
    admin_key_argument: Annotated[
        str | None,
        typer.Argument(
            metavar="ADMIN_KEY",
            help="Admin key for the /admin routes; wins over PARLEY_ADMIN_KEY. Prefer the "
            "variable: command lines are visible to other local users.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on. [default: PARLEY_HOST or 127.0.0.1]"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on. [default: PARLEY_PORT or 8080]"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[
        bool, typer.Option(help="Restart when the code changes (development).")
    ] = False,
) -> None:
    """Run the Parley server: every API dialect, on one port.

    `parley serve 8080 <ADMIN_KEY>` works as the ChatGPT-API-server did. Without an admin
    key (argument or PARLEY_ADMIN_KEY) one is generated on first start, printed once and
    stored only as a hash in PARLEY_HOME. Use PARLEY_REDIS_URL to share rate limits, view
    counters and worker agents between workers or replicas.
    """
    import uvicorn

    settings = serve_settings(port_argument, admin_key_argument, host=host, port=port)
    with exits_cleanly():
        for line in startup_lines(settings):
            console.print(Text(line), soft_wrap=True)  # keys and paths stay copyable
        proxy: dict[str, Any] = {
            "proxy_headers": settings.trust_forwarded_for,
            "forwarded_allow_ips": "*" if settings.trust_forwarded_for else None,
        }
        if workers == 1 and not reload:
            from parley.web.app import create_app

            uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **proxy)
            return
        # Worker processes build their own app from the environment.
        os.environ["PARLEY_HOST"] = settings.host
        os.environ["PARLEY_PORT"] = str(settings.port)
        if admin_key_argument:
            os.environ["PARLEY_ADMIN_KEY"] = admin_key_argument
        uvicorn.run(
            "parley.web.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=None if reload else workers,
            reload=reload,
            **proxy,
        )


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(record).decode() + "\n")


def _find(session: Any, name_or_id: str) -> User:
    user = users.by_name(session, name=name_or_id) or users.by_id(session, user_id=name_or_id)
    if user is None:
        raise NotFound(f"no user named or with id {name_or_id!r}; see `parley users list`")
    return user


def _show_token(user: User, token: str, *, as_json: bool) -> None:
    if as_json:
        _emit({"user_id": user.id, "name": user.name, "token": token})
        return
    console.print(Text(f"user {plain(user.name)} ({user.id})"))
    console.print(Text(f"token: {token}"), soft_wrap=True)
    err_console.print("save the token now: it is shown only once and stored only as a hash")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="A unique user name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a user and print its API token (once)."""
    ctx = get_context()
    with exits_cleanly(), ctx.session() as session:
        user = users.create(session, name=name, is_admin=admin)
        token = users.issue_token(session, user_id=user.id)
    _show_token(user, token, as_json=as_json)


@users_app.command("token")
def users_token(
    name_or_id: Annotated[str, typer.Argument(help="The user's name or id.")],
    as_json: JsonOption = False,
) -> None:
    """Issue another API token for an existing user (for example when one was lost)."""
    ctx = get_context()
    with exits_cleanly(), ctx.session() as session:
        user = _find(session, name_or_id)
        token = users.issue_token(session, user_id=user.id)
    _show_token(user, token, as_json=as_json)


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """List users with their token prefixes (tokens themselves are stored only as hashes)."""
    ctx = get_context()
    with exits_cleanly(), ctx.session() as session:
        listed = [
            (user, users.token_prefixes(session, user_id=user.id))
            for user in users.all_users(session)
        ]
    if as_json:
        for user, prefixes in listed:
            _emit(
                {
                    "user_id": user.id,
                    "name": user.name,
                    "is_admin": user.is_admin,
                    "token_prefixes": prefixes,
                }
            )
        return
    table = Table(title=f"{len(listed)} users", title_justify="left")
    for column in ("id", "name", "admin", "tokens"):
        table.add_column(column)
    for user, prefixes in listed:
        table.add_row(
            user.id,
            Text(plain(user.name)),
            "yes" if user.is_admin else "",
            ", ".join(f"{p}…" for p in prefixes) or "(none)",
        )
    console.print(table)


@users_app.command("delete")
def users_delete(
    name_or_id: Annotated[str, typer.Argument(help="The user's name or id.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before deleting conversations.")
    ] = False,
) -> None:
    """Delete a user, its tokens and its conversations."""
    ctx = get_context()
    with exits_cleanly():
        with ctx.session() as session:
            user = _find(session, name_or_id)
            owned = conversations.count(session, owner_id=user.id)
        if owned and not yes:
            typer.confirm(
                f"delete {plain(user.name)} and their {owned:,} conversations?", abort=True
            )
        with ctx.session() as session:
            removed = conversations.remove_all(session, owner_id=user.id)
            users.remove(session, user_id=user.id)
    console.print(
        Text(f"deleted user {plain(user.name)} ({user.id}) and {removed:,} conversations")
    )
