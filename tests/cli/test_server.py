"""``parley serve`` (without starting a server) and ``parley users``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from sqlalchemy import select
from typer.testing import CliRunner

from parley.cli import server
from parley.cli.main import app
from parley.config import Settings, load_settings
from parley.store import conversations, users
from parley.store.db import open_engine, session_factory, transaction
from parley.store.rows import explode
from parley.store.tables import tokens
from parley.web.runtime import ADMIN_KEY_FILE

runner = CliRunner()


@pytest.fixture(autouse=True)
def _library(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every command works on the test store (SQLite, and PostgreSQL when configured)."""
    monkeypatch.setenv("PARLEY_DATABASE_URL", store_url)
    return store_url


@pytest.fixture
def restore_env() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def invoke(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def stored_token_rows(store_url: str) -> list[dict[str, Any]]:
    engine = open_engine(store_url)
    try:
        with transaction(session_factory(engine)) as session:
            return [dict(row) for row in session.execute(select(tokens)).mappings()]
    finally:
        engine.dispose()


# users


def test_users_add_prints_the_token_once_and_stores_its_hash(_library: str) -> None:
    result = invoke("users", "add", "alice")
    assert result.exit_code == 0, result.output
    token = next(
        line.split("token: ", 1)[1] for line in result.stdout.splitlines() if "token: " in line
    )
    assert "shown only once" in result.stderr
    rows = stored_token_rows(_library)
    assert [row["token_hash"] for row in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in repr(rows)
    listing = invoke("users", "list")
    assert token not in listing.stdout
    assert token[:8] + "…" in listing.stdout


def test_users_add_json(_library: str) -> None:
    result = invoke("users", "add", "bob", "--admin", "--json")
    assert result.exit_code == 0
    (record,) = json_lines(result.stdout)
    assert set(record) == {"user_id", "name", "token"} and record["name"] == "bob"
    (listed,) = [
        u for u in json_lines(invoke("users", "list", "--json").stdout) if u["name"] == "bob"
    ]
    assert listed == {
        "user_id": record["user_id"],
        "name": "bob",
        "is_admin": True,
        "token_prefixes": [record["token"][:8]],
    }


def test_users_add_twice_is_a_clear_error() -> None:
    assert invoke("users", "add", "carol").exit_code == 0
    again = invoke("users", "add", "carol")
    assert again.exit_code == 2
    assert "already exists" in again.stderr


def test_users_token_issues_another(_library: str) -> None:
    first = json_lines(invoke("users", "add", "dave", "--json").stdout)[0]
    second = json_lines(invoke("users", "token", "dave", "--json").stdout)[0]
    assert second["user_id"] == first["user_id"] and second["token"] != first["token"]
    (listed,) = [
        u for u in json_lines(invoke("users", "list", "--json").stdout) if u["name"] == "dave"
    ]
    assert listed["token_prefixes"] == [first["token"][:8], second["token"][:8]]


def test_users_delete_by_name_or_id() -> None:
    invoke("users", "add", "erin")
    frank = json_lines(invoke("users", "add", "frank", "--json").stdout)[0]
    by_name = invoke("users", "delete", "erin")
    assert by_name.exit_code == 0 and "deleted user erin" in by_name.stdout
    by_id = invoke("users", "delete", frank["user_id"])
    assert by_id.exit_code == 0 and "frank" in by_id.stdout
    names = [u["name"] for u in json_lines(invoke("users", "list", "--json").stdout)]
    assert "erin" not in names and "frank" not in names
    unknown = invoke("users", "delete", "nobody")
    assert unknown.exit_code == 2 and "no user named or with id 'nobody'" in unknown.stderr


def test_users_delete_asks_before_deleting_conversations(_library: str) -> None:
    grace = json_lines(invoke("users", "add", "grace", "--json").stdout)[0]
    item = {"id": "c1", "title": "t", "mapping": {"r": {"id": "r", "message": None}}}
    engine = open_engine(_library)
    factory = session_factory(engine)
    with transaction(factory) as session:
        conversations.save(session, owner_id=grace["user_id"], item=explode(item))
    refused = invoke("users", "delete", "grace", input="n\n")
    assert refused.exit_code == 1 and "1 conversations" in refused.output
    assert invoke("users", "delete", "grace", "--yes").exit_code == 0
    with transaction(factory) as session:
        assert users.by_id(session, user_id=grace["user_id"]) is None
        assert conversations.count(session, owner_id=grace["user_id"]) == 0
    engine.dispose()


def test_hostile_names_do_not_reach_the_terminal() -> None:
    assert invoke("users", "add", "evil\x1b[2Jname").exit_code == 0
    assert "\x1b[2J" not in invoke("users", "list").stdout


# serve


def test_serve_help_explains() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for phrase in ("PORT", "ADMIN_KEY", "PARLEY_ADMIN_KEY", "--host", "--workers", "hash"):
        assert phrase in text, phrase
    assert "serve [OPTIONS] [PORT] [ADMIN_KEY]" in text  # optional once, not [[PORT]]
    # bracketed text in option help is shown, not taken for markup
    assert "[default: PARLEY_HOST or 127.0.0.1]" in text
    assert "[default: PARLEY_PORT or 8080]" in text


def test_serve_settings_positional_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ADMIN_KEY", "from-env")
    monkeypatch.setenv("PARLEY_PORT", "7000")
    settings = server.serve_settings(8080, "from-argument")
    assert (settings.port, settings.admin_key) == (8080, "from-argument")
    assert server.serve_settings(None, None).port == 7000
    assert server.serve_settings(None, None).admin_key == "from-env"
    assert server.serve_settings(9000, None, port=9100).port == 9000
    assert server.serve_settings(None, None, port=9100, host="0.0.0.0").base_url == (
        "http://0.0.0.0:9100"
    )


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Calls to uvicorn.run, recorded instead of serving."""
    calls: list[dict[str, Any]] = []

    def fake_run(target: Any, **options: Any) -> None:
        calls.append({"target": target, **options})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    yield calls
    for call in calls:
        if not isinstance(call["target"], str):
            call["target"].state.runtime.close()


def test_serve_positional_port_and_key(started: list[dict[str, Any]]) -> None:
    result = invoke("serve", "8123", "my-admin-key")
    assert result.exit_code == 0, result.output
    (call,) = started
    assert (call["host"], call["port"]) == ("127.0.0.1", 8123)
    runtime = call["target"].state.runtime
    assert runtime.admin_key.matches("my-admin-key")
    assert "http://127.0.0.1:8123" in result.stdout
    assert "my-admin-key" not in result.stdout


def test_serve_generates_a_key_once_and_keeps_only_its_hash(
    started: list[dict[str, Any]], _isolated_home: Path
) -> None:
    first = invoke("serve", "--port", "8124")
    assert first.exit_code == 0, first.output
    line = next(line for line in first.stdout.splitlines() if line.startswith("admin key: "))
    key = line.removeprefix("admin key: ").strip()
    assert "save it now" in first.stdout and ADMIN_KEY_FILE in first.stdout
    stored = (_isolated_home / ADMIN_KEY_FILE).read_text().strip()
    assert stored == hashlib.sha256(key.encode()).hexdigest()
    assert started[0]["target"].state.runtime.admin_key.matches(key)
    second = invoke("serve", "--port", "8124")
    assert key not in second.stdout and "generated earlier" in second.stdout
    assert started[1]["target"].state.runtime.admin_key.matches(key)


def test_serve_with_workers_hands_settings_over_the_environment(
    started: list[dict[str, Any]], restore_env: None
) -> None:
    result = invoke("serve", "8125", "worker-key", "--workers", "2", "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    (call,) = started
    assert call["target"] == "parley.web.app:create_app" and call["factory"] is True
    assert call["workers"] == 2 and call["reload"] is False
    settings = load_settings()
    assert (settings.host, settings.port, settings.admin_key) == ("0.0.0.0", 8125, "worker-key")


def test_serve_rejects_a_bad_port(started: list[dict[str, Any]]) -> None:
    result = invoke("serve", "99999")
    assert result.exit_code == 2 and not started


def test_startup_lines_name_the_base_url(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, admin_key="k", public_url="https://chat.example.org/")
    lines = server.startup_lines(settings)
    assert lines[0] == "Parley is starting at https://chat.example.org"
    assert not (tmp_path / ADMIN_KEY_FILE).exists()
