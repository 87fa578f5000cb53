"""The worker's options (:class:`AgentConfig`) and the small rules that read them.

* :func:`hub_uri`: ``http(s)://host[:port][/prefix]`` -> ``ws(s)://.../client/register``
  (ws/wss URLs kept; the path is appended unless already there);
* :func:`model_aliases`: ``--model NAME`` serves NAME as the local server names it;
  ``--model NAME=LOCAL`` announces NAME and asks the local server for LOCAL;
* :func:`backoff_delay`: capped exponential backoff with jitter between reconnections.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

REGISTER_PATH = "/client/register"


@dataclass
class AgentConfig:
    server: str
    token: str
    backend_url: str
    api_key: str | None = None
    models: list[str] = field(default_factory=list)  # NAME or NAME=LOCAL; empty: the backend's
    concurrency: int = 1
    agent_id: str | None = None
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


def hub_uri(server: str) -> str:
    """``http://host:8080`` -> ``ws://host:8080/client/register`` (ws/wss URLs kept)."""
    parts = urlsplit(server.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"{server!r} is not a server URL (for example http://127.0.0.1:8080)")
    path = parts.path.rstrip("/")
    if not path.endswith(REGISTER_PATH):
        path += REGISTER_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def model_aliases(specs: list[str]) -> dict[str, str]:
    """``["a", "b=local-b"]`` -> ``{"a": "a", "b": "local-b"}`` (announced -> local name)."""
    aliases: dict[str, str] = {}
    for spec in specs:
        name, _, local = spec.partition("=")
        name, local = name.strip(), local.strip() or name.strip()
        if not name:
            raise ValueError(f"--model {spec!r}: use NAME or NAME=LOCAL_NAME")
        aliases[name] = local
    return aliases


def backoff_delay(failures: int, initial: float, cap: float) -> float:
    """Capped exponential backoff with jitter: between half and all of min(cap, initial*2^n)."""
    ceiling = min(cap, initial * 2 ** min(failures, 30))
    return ceiling * random.uniform(0.5, 1.0)
