"""`parley ls`, `parley show`, `parley search` on an imported library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from parley import synth, tree
from parley.cli.main import app

runner = CliRunner()


@pytest.fixture
def library(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> list[dict[str, Any]]:
    monkeypatch.setenv("PARLEY_DATABASE_URL", store_url)
    items = list(synth.generate(8, seed=5, edge_cases=False)) + synth.edge_case_conversations(
        seed=5
    )
    path = synth.write_conversations_json(tmp_path / "c.json", items)
    assert runner.invoke(app, ["import", str(path)]).exit_code == 0
    return items


def lines(*args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_ls_json_lists_newest_first(library: list[dict[str, Any]]) -> None:
    rows = lines("ls", "--json", "-n", "1000")
    assert len(rows) == len(library)
    assert all({"id", "title"} <= set(row) for row in rows)
    updated = [row["update_time"] or "" for row in rows]
    assert updated == sorted(updated, reverse=True)
    assert len(lines("ls", "--json", "-n", "3", "--offset", "2")) == 3


def test_ls_table_escapes_hostile_titles(library: list[dict[str, Any]]) -> None:
    result = runner.invoke(app, ["ls", "-n", "1000"])
    assert result.exit_code == 0
    assert "\x1b]" not in result.output  # no terminal escape from titles


def test_show_renders_the_visible_branch(library: list[dict[str, Any]]) -> None:
    branched = next(c for c in library if c.get("id", "").startswith("edge-branches"))
    visible = {id(m) for m in tree.visible_messages(branched)}
    nodes = [n["message"] for n in branched["mapping"].values() if n.get("message")]
    prompts = [
        tree.message_text(m) for m in nodes if tree.role(m) == "user" and not tree.is_hidden(m)
    ]
    shown_prompts = [
        tree.message_text(m) for m in nodes if id(m) in visible and tree.role(m) == "user"
    ]
    result = runner.invoke(app, ["show", branched["id"]], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    assert shown_prompts and all(text in flat for text in shown_prompts)
    hidden_branch = [text for text in prompts if text not in shown_prompts]
    assert hidden_branch and not any(text in flat for text in hidden_branch)
    shown = lines("show", branched["id"], "--json")[0]
    assert shown["mapping"] == branched["mapping"]


def test_show_unknown_id_is_a_clear_error(library: list[dict[str, Any]]) -> None:
    result = runner.invoke(app, ["show", "does-not-exist"])
    assert result.exit_code == 2 and "not found" in result.output


def test_search_json_has_snippet_and_score(library: list[dict[str, Any]]) -> None:
    hits = lines("search", "hologram", "--json")
    assert hits and {"id", "title", "snippet", "score"} <= set(hits[0])
    assert all(isinstance(h["score"], float) for h in hits)
    assert lines("search", "zzzznotaword", "--json") == []
