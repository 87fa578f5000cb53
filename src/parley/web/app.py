"""The app factory: ``create_app(settings)`` builds one server carrying every API dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from parley import __version__
from parley.config import Settings, load_settings
from parley.web import errors
from parley.web.limits import BodyLimit
from parley.web.responses import FastJSON
from parley.web.runtime import Runtime

UPLOAD_PATHS = ("/api/import",)

DESCRIPTION = """
Parley keeps AI conversations as trees and speaks the APIs of the tools it replaces:
the ChatGPT backend-api (`/backend-api/...`), the Chat GPT REST API (`/conversations...`),
the ChatGPT-API-server (`/api/ask`, `/admin/users...`), ShareGPT (`/api/conversations`) and
an OpenAI-compatible endpoint (`/v1/...`).

Authenticate with `Authorization: Bearer <token>` (a bare token works too). Every error
answers `{"detail": ...}`; rate limits answer 429 with `Retry-After`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    runtime = Runtime.start(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.close()

    app = FastAPI(
        title="Parley",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=FastJSON,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    errors.install(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        upload_bytes=settings.max_upload_bytes,
        upload_paths=UPLOAD_PATHS,
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> FastJSON:
        return FastJSON({"status": "ok"})

    from parley.web.api import admin, backend_api, imports, rest

    for module in (admin, backend_api, rest, imports):
        app.include_router(module.router)
    return app
