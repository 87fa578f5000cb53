"""Security headers, added to responses as they leave the app (a pure ASGI middleware).

Contract:

* every response gets ``X-Content-Type-Options: nosniff``;
* every HTML response (``Content-Type: text/html``) also gets :data:`CSP` (no inline
  script, no inline event handlers, no inline style, no plugins, no framing, no
  ``<base>``, forms only to this origin), ``X-Frame-Options: DENY`` and
  ``Referrer-Policy: same-origin``; a header the route already set is kept;
* the interactive API docs (``/docs``, ``/redoc``) are exempt from the CSP: they are
  FastAPI's pages, load Swagger UI from a CDN and run inline script, and carry no user
  content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
ALWAYS: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)
HTML_ONLY: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
EXEMPT_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exempt = scope.get("path") in EXEMPT_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                content_type = next(
                    (value for name, value in headers if name.lower() == b"content-type"), b""
                )
                extra = list(ALWAYS)
                if content_type.lower().startswith(b"text/html") and not exempt:
                    extra += HTML_ONLY
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
