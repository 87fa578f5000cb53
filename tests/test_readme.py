"""The README's promises: its two commands, and a settings table that matches the code."""

from __future__ import annotations

import re
from pathlib import Path

from parley.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()
CI = (Path(__file__).parent.parent / ".ci" / "run").read_text()


def command_after(marker: str) -> str:
    lines = README.split(f"<!-- {marker} -->\n", 1)[1].splitlines()
    assert lines[0] == "```"
    return lines[1]


def test_the_two_commands_install_and_run() -> None:
    run = command_after("run-command")
    test = command_after("test-command")
    assert "pip install -e ." in run and "parley serve" in run
    assert "pip install" in test and "pytest" in test
    assert README.index("run-command") < README.index("test-command") < README.index("## ")


def test_ci_runs_the_readme_test_command() -> None:
    assert "<!-- test-command -->" in CI and 'bash -c "$test_command"' in CI


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"`(PARLEY_[A-Z_]+)`", README))
    settings = {f"PARLEY_{name.upper()}" for name in Settings.model_fields}
    missing = settings - documented
    assert not missing, f"document these settings in the README: {sorted(missing)}"
    unknown = {
        name
        for name in documented - settings
        if not name.startswith(("PARLEY_TEST_", "PARLEY_SYNC_", "PARLEY_AGENT_TOKEN"))
    }
    assert not unknown, f"the README documents settings that do not exist: {sorted(unknown)}"
