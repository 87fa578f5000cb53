"""The backend contract every LLM source implements: OpenAI-compatible HTTP endpoints
and the pool of connected worker agents alike.

A backend streams :class:`Chunk` objects for a :class:`ChatRequest`. The last chunk of
a reply carries ``finish_reason`` (``"stop"``, ``"length"``, ...) and, when the source
reports it, ``usage``. Failures raise :class:`BackendError`; ``partial`` tells the caller
whether any text had already been streamed (then a retry elsewhere would duplicate it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from parley.errors import ParleyError


@dataclass(frozen=True)
class ChatRequest:
    """One completion request, in OpenAI chat format."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other OpenAI parameters, passed on


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    finish_reason: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None


class BackendError(ParleyError):
    """The backend failed. 502 by default; ``partial`` is True once text was streamed."""

    status = 502

    def __init__(self, detail: str, *, partial: bool = False, status: int | None = None) -> None:
        super().__init__(detail)
        self.partial = partial
        if status is not None:
            self.status = status


class Backend(Protocol):
    name: str

    async def models(self) -> list[str]:
        """Model ids this backend serves (may be cached)."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Stream the reply; raises BackendError on failure."""
        ...
