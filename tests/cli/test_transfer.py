"""`parley import`, `parley export` and `parley demo`, run as a user would, on both databases."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from parley import synth
from parley.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _library(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_DATABASE_URL", store_url)


def parley(*args: str) -> Any:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def test_import_json_summary_and_idempotence(tmp_path: Path) -> None:
    export = synth.write_export_zip(
        tmp_path / "export.zip", synth.generate(30, seed=1), layout="sharded", shard_size=7
    )
    first = parley("import", str(export), "--json")
    assert first.exit_code == 0, first.output
    assert orjson.loads(first.stdout.strip().splitlines()[-1]) == {
        "imported": 30,
        "updated": 0,
        "unchanged": 0,
        "failed": [],
    }
    again = parley("import", str(export), "--json")
    assert orjson.loads(again.stdout.strip().splitlines()[-1])["unchanged"] == 30


def test_import_human_summary_lists_failures(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    good = next(synth.generate(1, seed=2, edge_cases=False))
    path.write_bytes(b"[" + orjson.dumps(good) + b',{"id":"broken","mapping":null}]')
    result = parley("import", str(path))
    assert result.exit_code == 0
    assert "1 imported" in result.output and "1 failed" in result.output
    assert "broken" in result.output and "mapping" in result.output


def test_import_errors_say_what_to_do(tmp_path: Path) -> None:
    missing = parley("import", str(tmp_path / "nope.zip"))
    assert missing.exit_code == 2 and "nope.zip" in missing.output
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../conversations.json", "[]")
    result = parley("import", str(evil))
    assert result.exit_code == 2 and "../conversations.json" in result.output


def test_import_into_a_named_user(tmp_path: Path) -> None:
    path = synth.write_conversations_json(
        tmp_path / "c.json", synth.generate(3, seed=4, edge_cases=False)
    )
    assert (
        parley("import", str(path), "--user", "ghost").exit_code == 2
    )  # unknown user: clear error
    assert parley("users", "add", "carol").exit_code == 0
    assert parley("import", str(path), "--user", "carol").exit_code == 0
    assert len(parley("ls", "--json", "--user", "carol").stdout.splitlines()) == 3
    assert parley("ls", "--json").stdout.strip() == ""


@pytest.fixture
def filled(tmp_path: Path) -> list[dict[str, Any]]:
    items = list(synth.generate(12, seed=9, edge_cases=False)) + synth.edge_case_conversations(
        seed=3
    )
    path = synth.write_conversations_json(tmp_path / "in.json", items)
    assert parley("import", str(path)).exit_code == 0
    return items


def test_json_export_is_lossless(filled: list[dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert parley("export", "--format", "json", "--output", str(out)).exit_code == 0
    exported = {c.get("id") or c["conversation_id"]: c for c in orjson.loads(out.read_bytes())}
    assert len(exported) == len(filled)
    for item in filled:
        assert exported[item.get("id") or item["conversation_id"]] == orjson.loads(
            orjson.dumps(item)
        )


def test_export_filters(filled: list[dict[str, Any]], tmp_path: Path) -> None:
    ids = [c["id"] for c in filled[:2]]
    out = tmp_path / "two.json"
    parley("export", *ids, "-o", str(out))
    assert sorted(c["id"] for c in orjson.loads(out.read_bytes())) == sorted(ids)
    times = sorted(c["create_time"] for c in filled if isinstance(c.get("create_time"), float))
    middle = times[len(times) // 2]
    since = parley("export", "--since", f"@{middle}", "-o", str(out))
    assert since.exit_code == 2 and "--since" in since.output  # not a date: a clear error
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(middle, UTC).date().isoformat()
    parley("export", "--since", day, "-o", str(out))
    assert all(
        c["create_time"] >= datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
        for c in orjson.loads(out.read_bytes())
    )
    word = "hologram"  # only the unknown-content-type edge case mentions it
    parley("export", "--search", word, "-o", str(out))
    found = orjson.loads(out.read_bytes())
    assert found and all(word in orjson.dumps(c).decode().lower() for c in found)


def test_markdown_export_writes_one_safe_file_per_conversation(
    filled: list[dict[str, Any]], tmp_path: Path
) -> None:
    folder = tmp_path / "md"
    result = parley(
        "export",
        "-f",
        "markdown",
        "-o",
        str(folder),
        "--all-branches",
        "--filename-template",
        "{title}",
    )
    assert result.exit_code == 0, result.output
    files = sorted(folder.iterdir())
    assert len(files) == len(filled)
    for file in files:
        assert file.suffix == ".md" and "/" not in file.name and "<" not in file.name
        text = file.read_text()
        front = yaml.safe_load(text.split("---\n")[1])
        assert {"id", "title", "created", "updated"} <= set(front)
    branchy = next(f for f in files if "Branch 2 of" in f.read_text())
    assert branchy


def test_html_and_training_exports(filled: list[dict[str, Any]], tmp_path: Path) -> None:
    html_dir = tmp_path / "html"
    assert parley("export", "-f", "html", "-o", str(html_dir)).exit_code == 0
    pages = list(html_dir.glob("*.html"))
    assert len(pages) == len(filled)
    assert not any("<script" in page.read_text().lower() for page in pages)
    for fmt, key in (("sharegpt", "conversations"), ("openai", "messages")):
        out = tmp_path / f"{fmt}.jsonl"
        assert parley("export", "-f", fmt, "-o", str(out)).exit_code == 0
        records = [orjson.loads(line) for line in out.read_text().splitlines()]
        assert records and all(key in r for r in records)


def test_export_rejects_bad_options(tmp_path: Path) -> None:
    assert parley("export", "-f", "pdf").exit_code == 2
    assert parley("export", "-f", "markdown").exit_code == 2  # needs a folder, not stdout


def test_demo_fills_an_empty_library_once() -> None:
    result = parley("demo", "--count", "40")
    assert result.exit_code == 0 and "40" in result.output
    assert len(parley("ls", "--json", "-n", "100").stdout.splitlines()) == 40
    again = parley("demo", "--count", "5")
    assert again.exit_code == 1 and "--force" in again.output


def test_the_demo_history_ends_now() -> None:
    before = datetime.now(UTC)
    assert parley("demo").exit_code == 0  # 300: some would go on past now, unshifted
    newest = orjson.loads(parley("ls", "--json", "-n", "1").stdout.splitlines()[0])
    updated = datetime.fromisoformat(newest["update_time"])
    assert before - timedelta(days=30) < updated <= datetime.now(UTC)


def test_help_explains_every_command() -> None:
    for command in ("import", "export", "ls", "show", "search", "demo", "db"):
        result = parley(command, "--help")
        assert result.exit_code == 0 and len(result.output) > 200, command
