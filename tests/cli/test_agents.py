"""``parley agents add`` and ``parley agent``'s argument checks (the worker itself runs in
tests/web/test_agents.py as a real process)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from parley.agents.tokens import agent_owner
from parley.cli.main import app
from parley.store.db import open_engine, session_factory, transaction

runner = CliRunner()


@pytest.fixture(autouse=True)
def _library(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PARLEY_DATABASE_URL", store_url)
    return store_url


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def owner_name(store_url: str, token: str) -> str | None:
    engine = open_engine(store_url)
    try:
        with transaction(session_factory(engine)) as session:
            user = agent_owner(session, token=token)
            return user.name if user else None
    finally:
        engine.dispose()


def test_agents_add_prints_an_agent_token_once(_library: str) -> None:
    result = invoke("agents", "add", "gpu-box")
    assert result.exit_code == 0, result.output
    token = next(
        line.split("token: ", 1)[1] for line in result.stdout.splitlines() if "token: " in line
    )
    assert "agent:gpu-box" in result.stdout and "shown only once" in result.stderr
    assert owner_name(_library, token) == "agent:gpu-box"
    listing = invoke("users", "list", "--json")
    assert (
        token not in listing.stdout
        and hashlib.sha256(token.encode()).hexdigest() not in listing.stdout
    )


def test_agents_add_json(_library: str) -> None:
    result = invoke("agents", "add", "box", "--json")
    assert result.exit_code == 0, result.output
    issued = orjson.loads(result.stdout)
    assert set(issued) == {"user_id", "name", "token"} and issued["name"] == "agent:box"
    assert owner_name(_library, issued["token"]) == "agent:box"


def test_agents_add_refuses_a_bad_name() -> None:
    result = invoke("agents", "add", "no spaces")
    assert result.exit_code == 2
    assert "agent name must be" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "localhost:8080"], "not a server URL"),
        (["--backend-url", "127.0.0.1:8000"], "not an http(s) URL"),
        (["--model", "=x"], "use NAME or NAME=LOCAL_NAME"),
    ],
)
def test_agent_checks_its_arguments_before_connecting(args: list[str], message: str) -> None:
    base = {
        "--server": "http://127.0.0.1:9",
        "--token": "t",
        "--backend-url": "http://127.0.0.1:9/v1",
    }
    for key, value in zip(args[::2], args[1::2], strict=True):
        base[key] = value
    result = invoke("agent", *[item for pair in base.items() for item in pair])
    assert result.exit_code == 2
    assert message in result.output


def test_agent_needs_a_token() -> None:
    result = invoke(
        "agent", "--server", "http://127.0.0.1:9", "--backend-url", "http://127.0.0.1:9"
    )
    assert result.exit_code == 2 and "--token" in result.output


def test_agent_help_reflows_its_paragraphs() -> None:
    """A docstring's line breaks are not the terminal's: its paragraphs reflow to the width."""
    result = runner.invoke(app, ["agent", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    # the docstring breaks its lines after "answers" and after "drops."
    assert any(
        "answers heartbeats" in line and "drops. Ctrl-C" in line
        for line in result.stdout.splitlines()
    ), result.stdout
