"""The one error handler: every error answers ``{"detail": ...}``, as FastAPI does.

Browsers asking for HTML get a small page with the same message instead. Parley's own
exceptions carry their status; request validation errors are 422 with FastAPI's list of
``{loc, msg, type}``; anything unexpected is a 500 that says nothing about internals.
"""

from __future__ import annotations

import html
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response

from parley.errors import ParleyError, RateLimited
from parley.web.responses import FastJSON
from parley.web.templating import render_error

log = logging.getLogger("parley.web")


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    path = request.url.path
    api = path.startswith(
        ("/api/", "/backend-api/", "/v1/", "/admin/", "/conversations", "/client/")
    )
    return not api and "text/html" in accept


def error_response(
    request: Request, status: int, detail: object, headers: dict[str, str] | None = None
) -> Response:
    if wants_html(request) and isinstance(detail, str):
        try:  # the site's error page; the bare one below if even that fails
            page = render_error(request, status, detail)
            page.headers.update(headers or {})
            return page
        except Exception:
            log.exception("could not render the error page")
        body = (
            "<!doctype html><meta charset=utf-8><title>Error</title>"
            f"<h1>{status}</h1><p>{html.escape(detail)}</p>"
        )
        return HTMLResponse(body, status_code=status, headers=headers)
    return FastJSON({"detail": detail}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ParleyError)
    async def parley_error(request: Request, error: ParleyError) -> Response:
        headers = None
        if isinstance(error, RateLimited):
            headers = {"Retry-After": str(error.retry_after)}
        return error_response(request, error.status, error.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()
        ]
        return error_response(request, 422, detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        return error_response(
            request, error.status_code, error.detail, getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal server error; the server log has details")
