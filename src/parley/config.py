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
        description="Redis URL for shared rate limits and counters across replicas. "
        "Default: in-process state.",
    )
    admin_key: str | None = Field(
        default=None,
        description="Key for the admin routes. Default: generated on first start and kept "
        "in PARLEY_HOME/admin_key.",
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
