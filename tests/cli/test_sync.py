"""``parley sync``: the command against a misbehaving backend on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from parley.cli import sync as sync_cli
from parley.cli.main import app
from parley.store import conversations
from parley.store.db import transaction
from parley.sync import run_sync
from tests.support.flaky_backend import TOKEN, Fault, FlakyBackend, running
from tests.web.conftest import conversation

runner = CliRunner()


@pytest.fixture(autouse=True)
def _library(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PARLEY_DATABASE_URL", store_url)
    # retries wait in tests too, but not for real
    monkeypatch.setattr(sync_cli, "run_sync", partial(run_sync, sleep=lambda seconds: None))
    return store_url


@pytest.fixture
def backend() -> Iterator[FlakyBackend]:
    fake = FlakyBackend()
    fake.add(*[conversation(f"c{i:03d}", create=1.7e9 + i, update=1.7e9 + i) for i in range(120)])
    with running(fake):
        yield fake


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


def stored(factory: sessionmaker[Session], owner_id: str) -> int:
    with transaction(factory) as session:
        return conversations.count(session, owner_id=owner_id)


def test_sync_then_sync_again(
    backend: FlakyBackend, factory: sessionmaker[Session], owner_id: str
) -> None:
    first = invoke("sync", "--from", backend.url, "--token", TOKEN)
    assert first.exit_code == 0, first.output
    assert "listed 120 of 120 conversations; fetched 120 (120 new" in " ".join(first.stdout.split())
    assert stored(factory, owner_id) == 120
    second = invoke("sync", "--from", backend.url, "--json", env={"PARLEY_SYNC_TOKEN": TOKEN})
    report = orjson.loads(second.stdout)
    assert (report["fetched"], report["skipped"], report["listed"]) == (0, 120, 120)


def test_list_only_writes_the_raw_file(
    backend: FlakyBackend, tmp_path: Path, factory: sessionmaker[Session], owner_id: str
) -> None:
    assert invoke("sync", "--from", backend.url, "--token", TOKEN, "--list-only").exit_code == 2
    out = tmp_path / "list.json"
    result = invoke("sync", "--from", backend.url, "--token", TOKEN, "--list-only", "-o", str(out))
    assert result.exit_code == 0, result.output
    raw = orjson.loads(out.read_bytes())
    assert (raw["totalCount"], raw["expectedTotal"], raw["isComplete"]) == (120, 120, True)
    assert stored(factory, owner_id) == 0 and backend.details_fetched() == []


def test_what_still_failed_exits_1(backend: FlakyBackend) -> None:
    backend.faults = lambda n, path, query: Fault("500") if path.endswith("/c007") else None
    result = invoke("sync", "--from", backend.url, "--token", TOKEN)
    assert result.exit_code == 1
    text = " ".join(result.stdout.split())
    assert "c007: server error 500" in text and "run the same command again" in text
    backend.faults = lambda n, path, query: None
    assert invoke("sync", "--from", backend.url, "--token", TOKEN).exit_code == 0


def test_a_refused_token_exits_2_and_is_not_printed(backend: FlakyBackend) -> None:
    result = invoke("sync", "--from", backend.url, "--token", "my-secret-token-value")
    assert result.exit_code == 2
    assert "refused the token (401)" in " ".join(result.output.split())
    assert "my-secret-token-value" not in result.output


def test_a_server_that_stays_down_exits_1(tmp_path: Path) -> None:
    fake = FlakyBackend(faults=lambda n, path, query: Fault("drop"))
    with running(fake):
        result = invoke("sync", "--from", fake.url, "--token", TOKEN)
    assert result.exit_code == 1
    assert "run the same command again later" in " ".join(result.output.split())
