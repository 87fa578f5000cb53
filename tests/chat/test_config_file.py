"""Backends from a TOML file (PARLEY_CONFIG): what it may say, and the mistakes it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.chat.backends.openai import OpenAIBackend
from parley.chat.config_file import load_config
from parley.chat.router import BackendRegistry
from parley.config import Settings
from parley.errors import BadRequest


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "parley.toml"
    path.write_text(text)
    return path


def test_a_toml_file_lists_backends_routes_and_the_default_model(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-from-env")
    path = toml(
        tmp_path,
        """
default_model = "gpt-4o-mini"

[[backends]]
name = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "MY_KEY"
models = ["gpt-4o", "gpt-4o-mini"]
timeout = 30

[[backends]]
name = "local"
base_url = "http://127.0.0.1:11434/v1"

[routing]
"gpt-*" = ["openai", "local"]
"llama*" = "local"
""",
    )
    registry = BackendRegistry.from_settings(settings.model_copy(update={"config": path}))
    assert registry.names == ["openai", "local"]
    assert registry.routes == [("gpt-*", ["openai", "local"]), ("llama*", ["local"])]
    assert registry.default_model == "gpt-4o-mini"
    openai = registry.get("openai")
    assert isinstance(openai, OpenAIBackend) and openai.timeout == 30
    assert openai.configured_models == ("gpt-4o", "gpt-4o-mini")
    overridden = settings.model_copy(update={"config": path, "default_model": "llama3"})
    assert BackendRegistry.from_settings(overridden).default_model == "llama3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[backends]]\nname = 'x'\n", "'base_url' must be an http(s) URL"),
        ("[[backends]]\nbase_url = 'http://h/v1'\n", "'name' is required"),
        ("[[backends]]\nname='x'\nbase_url='http://h/v1'\nmodel='m'\n", "unknown keys ['model']"),
        ("[routing]\n'x' = 3\n", "must be a backend name or a list"),
        ("backend = 1\n", "unknown keys ['backend']"),
        (
            "[[backends]]\nname='a'\nbase_url='http://h/v1'\n[[backends]]\nname='a'\nbase_url='http://h/v1'\n",
            "backend names must be unique",
        ),
        (
            "[[backends]]\nname='a'\nbase_url='http://h/v1'\napi_key_env='PARLEY_NOT_SET'\n",
            "PARLEY_NOT_SET is not set",
        ),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_configuration_mistakes_are_named(
    tmp_path: Path, settings: Settings, text: str, message: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        load_config(toml(tmp_path, text), settings)
    assert message in caught.value.detail
    assert str(tmp_path) in caught.value.detail


def test_a_missing_file_is_named(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(BadRequest, match="cannot read it"):
        load_config(tmp_path / "nowhere.toml", settings)
