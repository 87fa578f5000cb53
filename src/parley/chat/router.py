"""The backend registry: which backend answers which model, and falling back between them.

Built once per process by :meth:`BackendRegistry.from_settings` (never re-read per
request); connected agents join later through :meth:`BackendRegistry.register`.

Sources, in this order:

* ``PARLEY_OPENAI_BASE_URL`` (+ ``PARLEY_OPENAI_API_KEY``): a backend named ``default``;
* the TOML file named by ``PARLEY_CONFIG`` (:mod:`parley.chat.config_file`): backends,
  ``[routing]`` globs and a ``default_model`` (``PARLEY_DEFAULT_MODEL`` wins over it).

Choosing backends for a model: the first ``[routing]`` glob that matches decides; else
every backend that lists the model (configured or discovered); else every backend that
names no model at all (it may serve anything). A backend that fails before any text was
streamed (``BackendError`` with ``partial`` False, or ``Unavailable``) hands the request
to the next candidate; once text was streamed, the error is final. No backend at all is
a 503 whose message says how to configure one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable, Sequence
from fnmatch import fnmatchcase

from parley.chat.backends.base import Backend, BackendError, ChatRequest, Chunk
from parley.chat.backends.openai import OpenAIBackend
from parley.chat.config_file import load_config
from parley.config import Settings
from parley.errors import BadRequest, Unavailable

log = logging.getLogger("parley.chat")

HOW_TO_CONFIGURE = (
    "no LLM backend is configured: set PARLEY_OPENAI_BASE_URL (e.g. https://api.openai.com/v1 "
    "or http://127.0.0.1:11434/v1 for Ollama), PARLEY_OPENAI_API_KEY and PARLEY_DEFAULT_MODEL; "
    "or list backends in a TOML file named by PARLEY_CONFIG; or connect a worker agent "
    "(`parley agent`)"
)


class BackendRegistry:
    """Named backends, routing globs and the default model (see the module docstring)."""

    def __init__(
        self,
        backends: Iterable[Backend] = (),
        *,
        routes: Sequence[tuple[str, Sequence[str]]] = (),
        default_model: str | None = None,
    ) -> None:
        self._backends: dict[str, Backend] = {}
        for backend in backends:
            if backend.name in self._backends:
                raise BadRequest(f"two backends are named {backend.name!r}")
            self._backends[backend.name] = backend
        self.routes = [(pattern, list(names)) for pattern, names in routes]
        self.default_model = default_model

    @classmethod
    def from_settings(cls, settings: Settings) -> BackendRegistry:
        backends: list[Backend] = []
        routes: list[tuple[str, list[str]]] = []
        default_model = None
        if settings.openai_base_url:
            backends.append(
                OpenAIBackend(
                    "default",
                    settings.openai_base_url,
                    api_key=settings.openai_api_key,
                    timeout=settings.chat_timeout,
                    connect_timeout=settings.chat_connect_timeout,
                    retries=settings.chat_retries,
                )
            )
        if settings.config is not None:
            more, routes, default_model = load_config(settings.config, settings)
            backends += more
        return cls(backends, routes=routes, default_model=settings.default_model or default_model)

    # --- membership -----------------------------------------------------------------------

    def register(self, backend: Backend) -> None:
        """Add a backend (or replace the one of the same name), e.g. the agents' hub."""
        self._backends[backend.name] = backend

    def unregister(self, name: str) -> None:
        self._backends.pop(name, None)

    def get(self, name: str) -> Backend | None:
        return self._backends.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._backends)

    def __len__(self) -> int:
        return len(self._backends)

    # --- choosing -------------------------------------------------------------------------

    async def resolve_model(self, model: str | None) -> str:
        """The requested model, else the default model, else the first one listed."""
        if model:
            return model
        if self.default_model:
            return self.default_model
        if not self._backends:
            raise Unavailable(HOW_TO_CONFIGURE)
        for backend in self._backends.values():
            listed = await _models(backend)
            if listed:
                return listed[0]
        failures = [
            f"backend {backend.name!r} could not list its models: {error}"
            for backend in self._backends.values()
            if (error := getattr(backend, "discovery_error", None))
        ]
        why = f" ({'; '.join(failures)})" if failures else ""
        raise Unavailable(
            f"no model was named and no backend lists one{why}: name a model "
            "or set PARLEY_DEFAULT_MODEL"
        )

    async def candidates(self, model: str) -> list[Backend]:
        """The backends to try for ``model``, in order; 503 when there are none."""
        if not self._backends:
            raise Unavailable(HOW_TO_CONFIGURE)
        for pattern, names in self.routes:
            if fnmatchcase(model, pattern):
                chosen = [self._backends[n] for n in names if n in self._backends]
                if not chosen:
                    raise Unavailable(
                        f"model {model!r} is routed to {', '.join(names)} "
                        f"(rule {pattern!r}), and none of them is available now"
                    )
                return chosen
        listing: list[Backend] = []
        open_ended: list[Backend] = []
        for backend in self._backends.values():
            declared = backend.serves(model) if isinstance(backend, OpenAIBackend) else None
            if declared is None:
                declared = model in await _models(backend)
            if declared:
                listing.append(backend)
            elif getattr(backend, "accepts_any_model", False):
                open_ended.append(backend)
        if listing or open_ended:
            return listing or open_ended
        known = sorted({m for m, _name in await self.models()})
        hint = f"; models available: {', '.join(known[:20])}" if known else ""
        raise Unavailable(f"no backend serves model {model!r}{hint}")

    async def models(self) -> list[tuple[str, str]]:
        """(model id, backend name) for every model some backend lists."""
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        for backend in self._backends.values():
            for model in await _models(backend):
                if model not in seen:
                    seen.add(model)
                    out.append((model, backend.name))
        return out

    # --- streaming ------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        """Stream from the first candidate that works (see the fallback rule above)."""
        backends = await self.candidates(request.model)
        failures: list[str] = []
        for index, backend in enumerate(backends):
            sent = False
            chunks = backend.stream(request)
            try:
                async for chunk in chunks:
                    sent = sent or bool(chunk.text)
                    yield chunk
                return
            except (BackendError, Unavailable) as error:
                partial = sent or bool(getattr(error, "partial", False))
                if partial or index == len(backends) - 1:
                    if failures and not partial:
                        raise BackendError(
                            "every backend failed: " + "; ".join([*failures, error.detail]),
                            status=error.status,
                        ) from error
                    raise
                log.warning("backend %s failed, trying the next one: %s", backend.name, error)
                failures.append(error.detail)
            finally:
                closer = getattr(chunks, "aclose", None)
                if closer is not None:
                    await closer()

    async def aclose(self) -> None:
        for backend in self._backends.values():
            closer = getattr(backend, "aclose", None)
            if closer is not None:
                await closer()

    def close(self) -> None:
        for backend in self._backends.values():
            closer = getattr(backend, "close", None)
            if callable(closer):
                closer()


async def _models(backend: Backend) -> list[str]:
    try:
        return list(await backend.models())
    except Exception as error:  # a broken backend must not break choosing among the others
        log.warning("backend %s: could not list models: %s", backend.name, error)
        return []
