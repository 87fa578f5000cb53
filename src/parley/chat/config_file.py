"""Backends listed in a TOML file (``PARLEY_CONFIG``), read once when the server starts.

The file's shape (every key checked; a mistake is a :class:`BadRequest` naming the file
and the entry)::

    default_model = "gpt-4o-mini"          # PARLEY_DEFAULT_MODEL wins over it

    [[backends]]
    name = "openai"                        # unique; "default" is PARLEY_OPENAI_BASE_URL's
    base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"         # or api_key = "sk-..."
    models = ["gpt-4o", "gpt-4o-mini"]     # optional; globs allowed; else GET /models
    # optional: timeout, connect_timeout, retries, stream_usage, headers = {...}

    [routing]                              # first matching glob decides, in file order
    "gpt-*" = ["openai", "local"]          # backends tried in this order

Routing may name backends that join later (the agents' backend is ``agents``); unknown
names are logged, not refused.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any

from parley.chat.backends.base import Backend
from parley.chat.backends.openai import OpenAIBackend
from parley.config import Settings
from parley.errors import BadRequest

log = logging.getLogger("parley.chat")

_BACKEND_KEYS = frozenset(
    {
        "name",
        "base_url",
        "api_key",
        "api_key_env",
        "models",
        "headers",
        "timeout",
        "connect_timeout",
        "retries",
        "stream_usage",
    }
)


def load_config(
    path: Path, settings: Settings
) -> tuple[list[Backend], list[tuple[str, list[str]]], str | None]:
    """Backends, routes and the default model from a TOML file; BadRequest on any mistake."""
    where = f"PARLEY_CONFIG {path}"
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise BadRequest(f"{where}: cannot read it: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(f"{where}: not valid TOML: {error}") from None
    unknown = set(data) - {"backends", "routing", "default_model"}
    if unknown:
        raise BadRequest(f"{where}: unknown keys {sorted(unknown)}")
    entries = data.get("backends", [])
    if not isinstance(entries, list):
        raise BadRequest(f"{where}: 'backends' must be an array of tables ([[backends]])")
    backends: list[Backend] = []
    for index, entry in enumerate(entries):
        backends.append(_backend(entry, f"{where}: backends[{index}]", settings))
    names = [b.name for b in backends]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated or (settings.openai_base_url and "default" in names):
        clash = sorted(duplicated) or ["default (PARLEY_OPENAI_BASE_URL already uses it)"]
        raise BadRequest(f"{where}: backend names must be unique: {clash}")
    routing = data.get("routing", {})
    if not isinstance(routing, dict):
        raise BadRequest(f'{where}: [routing] must be a table of "glob" = [backend names]')
    routes: list[tuple[str, list[str]]] = []
    for pattern, value in routing.items():
        targets = [value] if isinstance(value, str) else value
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise BadRequest(f"{where}: routing {pattern!r} must be a backend name or a list")
        for target in targets:
            if target not in names and target != "default":
                log.warning(
                    "%s: routing %r names %r, not a configured backend", where, pattern, target
                )
        routes.append((pattern, targets))
    default_model = data.get("default_model")
    if default_model is not None and not isinstance(default_model, str):
        raise BadRequest(f"{where}: default_model must be a string")
    return backends, routes, default_model


def _backend(entry: Any, where: str, settings: Settings) -> OpenAIBackend:
    if not isinstance(entry, dict):
        raise BadRequest(f"{where} must be a table")
    unknown = set(entry) - _BACKEND_KEYS
    if unknown:
        raise BadRequest(f"{where}: unknown keys {sorted(unknown)}")
    name, base_url = entry.get("name"), entry.get("base_url")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}: 'name' is required")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise BadRequest(f"{where} ({name}): 'base_url' must be an http(s) URL")
    api_key = entry.get("api_key")
    if api_key is None and entry.get("api_key_env"):
        api_key = os.environ.get(str(entry["api_key_env"]))
        if api_key is None:
            raise BadRequest(
                f"{where} ({name}): environment variable {entry['api_key_env']} is not set"
            )
    models = entry.get("models", [])
    headers = entry.get("headers", {})
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise BadRequest(f"{where} ({name}): 'models' must be a list of strings")
    if not isinstance(headers, dict):
        raise BadRequest(f"{where} ({name}): 'headers' must be a table")
    try:
        return OpenAIBackend(
            name,
            base_url,
            api_key=api_key,
            models=models,
            headers={str(k): str(v) for k, v in headers.items()},
            timeout=float(entry.get("timeout", settings.chat_timeout)),
            connect_timeout=float(entry.get("connect_timeout", settings.chat_connect_timeout)),
            retries=int(entry.get("retries", settings.chat_retries)),
            stream_usage=bool(entry.get("stream_usage", True)),
        )
    except (TypeError, ValueError) as error:
        raise BadRequest(f"{where} ({name}): {error}") from None
