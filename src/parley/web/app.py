"""The app factory: ``create_app(settings)`` builds one server carrying every API dialect."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from parley import __version__
from parley.aio import stop
from parley.config import Settings, load_settings
from parley.views import flush_periodically
from parley.web import errors
from parley.web.limits import BodyLimit
from parley.web.responses import FastJSON
from parley.web.routing import include, install_index
from parley.web.runtime import Runtime, recover_periodically
from parley.web.security import SecurityHeaders

UPLOAD_PATHS = ("/api/import", "/library/import")

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
        # Route handlers that touch the store run in threads; a few threads keep the GIL
        # from thrashing under load, and the database serves them just as fast.
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        flusher = asyncio.create_task(
            flush_periodically(runtime.views, runtime.factory, every=settings.view_flush_seconds)
        )
        sweeper = asyncio.create_task(recover_periodically(runtime))
        # What exists now (modules, the app, its routes) lives as long as the server: out of
        # the collector's way, a full collection no longer walks it, which took a request's
        # worth of time now and then (a visible p99). Given back when the server stops.
        from parley.web.api.agents import hub_of

        hub = hub_of(runtime)
        hub.open()  # the relay to other processes' agents, with Redis
        gc.freeze()
        yield
        gc.unfreeze()
        await hub.close()  # agents are told the server goes away (1001)
        await stop([flusher, sweeper])  # one may be in a thread: cancelled for sure
        await runtime.backends.aclose()  # backend HTTP connections, on their own loop
        runtime.close()  # writes the last buffered views

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
    app.add_middleware(SecurityHeaders)  # outermost: every answer gets its headers

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> FastJSON:  # on the loop: never queued behind busy worker threads
        return FastJSON({"status": "ok"})

    from parley.web.api import (
        admin,
        agent_admin,
        agents,
        ask,
        backend_api,
        chat_rest,
        imports,
        openai_proxy,
        rest,
    )

    for module in (admin, backend_api, rest, imports, agents, agent_admin):
        include(app, module.router)
    for module in (chat_rest, ask, openai_proxy):
        include(app, module.router)
    from parley.web.api import accounts, sharegpt, shares

    for module in (sharegpt, shares, accounts):
        include(app, module.router)
    from parley.web.api import activity
    from parley.web.pages import heatmap as heatmap_page

    include(app, activity.router)
    include(app, heatmap_page.router)  # before pages.install: "heatmap" is 7 chars

    from parley.web import pages
    from parley.web.templating import STATIC

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    pages.install(app)  # the pages; short links /{id} are the router's fallback
    install_index(app)
    return app
