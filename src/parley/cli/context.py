"""What every command needs: settings, an open store, the user it acts for, error exits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from parley.config import Settings, load_settings
from parley.errors import ParleyError
from parley.store import users
from parley.store.db import open_engine, session_factory, transaction

console = Console()
err_console = Console(stderr=True)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Text safe to print: terminal control sequences from hostile content removed."""
    return _CONTROL.sub("", text)


@dataclass
class Context:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return open_engine(self.settings.sqlalchemy_url)

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with transaction(self.factory) as session:
            yield session

    def user_id(self, name: str | None) -> str:
        """The named user's id, or the local owner's (created on first use)."""
        with self.session() as session:
            user = users.require(session, name=name) if name else users.local_owner(session)
            return user.id


def get_context() -> Context:
    return Context(settings=load_settings())


@contextmanager
def exits_cleanly() -> Iterator[None]:
    """Turn Parley errors into a one-line message and exit status 1 (2 for bad input)."""
    try:
        yield
    except ParleyError as error:
        err_console.print(f"[red]error:[/red] {plain(error.detail)}", highlight=False, markup=True)
        raise typer.Exit(2 if 400 <= error.status < 500 else 1) from None


def parse_when(value: str | None, *, option: str) -> float | None:
    """A date (``2024-05-01``) or ISO timestamp, as epoch seconds; naive means UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time", param_hint=option
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
