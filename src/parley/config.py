"""Settings, declared once: each with its default and the help text shown by ``parley --help``.

Settings are read from ``PARLEY_*`` environment variables when :func:`load_settings` is
called, never at import time, and are passed down explicitly (``create_app(settings)``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".local" / "share" / "parley"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Folder for Parley's data: the SQLite library, the admin key, sync state.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the library. Default: a SQLite file parley.sqlite3 in "
        "PARLEY_HOME. PostgreSQL: postgresql+psycopg://user@host/db",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL for rate limits, view counters and worker agents shared "
        "across worker processes and replicas. Default: in-process state.",
    )
    admin_key: str | None = Field(
        default=None,
        description="Key for the admin routes. Default: generated on first start, printed "
        "once and kept only as a hash in PARLEY_HOME/admin_key.sha256.",
    )
    host: str = Field(default="127.0.0.1", description="Address `parley serve` listens on.")
    port: int = Field(default=8080, description="Port `parley serve` listens on.")
    public_url: str | None = Field(
        default=None,
        description="The URL people reach this server at, for links it prints and shares. "
        "Default: http://HOST:PORT.",
    )
    rate_ask: str = Field(
        default="50/hour",
        description="Limit per token and per client address on routes that call a model.",
    )
    rate_read: str = Field(
        default="3000/minute",
        description="Limit per token and per client address on every other API route.",
    )
    max_body_bytes: int = Field(
        default=16 * 1024**2,
        description="Largest request body accepted on JSON routes (413 past it).",
    )
    max_upload_bytes: int = Field(
        default=8 * 1024**3, description="Largest export file accepted by POST /api/import."
    )
    worker_threads: int = Field(
        default=6,
        description="Threads per server process that run database work for requests.",
    )
    trust_forwarded_for: bool = Field(
        default=False,
        description="Take the client address from X-Forwarded-For (only behind a proxy you run).",
    )
    max_zip_ratio: int = Field(
        default=200, description="Largest allowed uncompressed/compressed ratio of a ZIP member."
    )
    max_unzipped_bytes: int = Field(
        default=64 * 1024**3, description="Largest total uncompressed size of an import ZIP."
    )
    rate_share: str = Field(
        default="20/minute",
        description="Limit per token and per client address on routes that publish: "
        "POST /api/conversations, comments and reports.",
    )
    rate_login: str = Field(
        default="10/minute",
        description="Limit per client address on sign-up and password log-in.",
    )
    max_share_bytes: int = Field(
        default=8 * 1024**2,
        description="Largest body accepted by POST /api/conversations (413 past it).",
    )
    allow_signup: bool = Field(
        default=True, description="Let anyone create an account on the web UI."
    )
    session_days: int = Field(default=30, description="How long a web UI log-in lasts, in days.")
    login_link_minutes: int = Field(
        default=15, description="How long a one-time log-in link stays valid, in minutes."
    )
    view_flush_seconds: float = Field(
        default=5.0,
        description="How often buffered share view counts are written to the database.",
    )
    openai_base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible API to chat with (OpenAI, vLLM, Ollama, "
        "llama.cpp ...), e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1.",
    )
    openai_api_key: str | None = Field(
        default=None, description="API key sent to PARLEY_OPENAI_BASE_URL (if it needs one)."
    )
    default_model: str | None = Field(
        default=None,
        description="Model used when a request names none. Default: the first model the "
        "first backend lists.",
    )
    config: Path | None = Field(
        default=None,
        description="A TOML file listing several LLM backends ([[backends]] name, base_url, "
        "api_key, models) and [routing] from model globs to backends, tried in order.",
    )
    chat_timeout: float = Field(
        default=300.0,
        description="Seconds to wait for a backend's next bytes (the first token included).",
    )
    chat_connect_timeout: float = Field(
        default=10.0, description="Seconds to wait for a connection to a backend."
    )
    chat_retries: int = Field(
        default=2,
        description="Retries (with backoff) of a backend call that failed to connect, "
        "before any byte of the reply arrived.",
    )
    autocontinue_rounds: int = Field(
        default=5,
        description="Most follow-up calls `autocontinue` makes to finish a reply cut off "
        "by the length limit.",
    )
    agent_heartbeat_interval: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between heartbeats on agent sockets: the hub pings every half "
        "interval and drops an agent it heard nothing from for a whole interval.",
    )
    agent_queue_timeout: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a request waits for a free agent when all agents serving its "
        "model are busy, before failing with 503.",
    )

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.home / 'parley.sqlite3'}"


def normalize_database_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read the environment now; keyword overrides win over it."""
    return Settings(**overrides)  # type: ignore[arg-type]
