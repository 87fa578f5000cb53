"""Routing that costs the same for the first route and the last.

The app carries some eighty routes. Matched the usual way, a request is tried against
each in turn (and FastAPI's included routers add bookkeeping per router and per route),
which cost more than the whole handling of a small request. Two changes:

* :func:`include` adds a router's routes to the app itself instead of nesting the
  router: the routes are complete (a router's dependencies, tags and responses are
  already part of each route), so nothing changes but the depth of the search;
* :class:`RouteIndex` sits in front of the app's router and tries only the routes whose
  first path segment can match the request's (plus the routes whose first segment is a
  parameter, in their original order). The first route in the app's order that matches
  fully is the one handled, exactly as a linear search would pick; anything else
  (405s, redirects for a trailing slash, 404s, websockets, lifespan) goes to the
  router's own dispatch, unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def include(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to ``app`` (flat; see the module docstring)."""
    app.router.routes.extend(router.routes)


def _first_segment(route: BaseRoute) -> str | None:
    """The static first segment of a route's path; None when it is a parameter."""
    path = getattr(route, "path_format", None) or getattr(route, "path", None) or ""
    head = path.lstrip("/").split("/", 1)[0]
    return None if "{" in head else head


class RouteIndex:
    """The app's router, dispatching HTTP requests by their first path segment."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.fallback: ASGIApp = router.middleware_stack
        self._version = -1
        self._table: dict[str, list[BaseRoute]] = {}
        self._dynamic: list[BaseRoute] = []

    def _build(self) -> None:
        routes = list(self.router.routes)
        heads = [_first_segment(route) for route in routes]
        self._table = {
            head: [r for r, h in zip(routes, heads, strict=True) if h in (head, None)]
            for head in {h for h in heads if h is not None}
        }
        self._dynamic = [r for r, h in zip(routes, heads, strict=True) if h is None]
        self._version = len(routes)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "fastapi.telemetry" in scope:
            await self.fallback(scope, receive, send)
            return
        if self._version != len(self.router.routes):  # routes added since the last build
            self._build()
        path: str = scope["path"]
        head = path[1:].split("/", 1)[0] if path.startswith("/") else path.split("/", 1)[0]
        for route in self._table.get(head, self._dynamic):
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.setdefault("router", self.router)
                scope.update(child)
                await route.handle(scope, receive, send)
                return
        await self.fallback(scope, receive, send)


def install_index(app: FastAPI) -> None:
    """Put a :class:`RouteIndex` in front of ``app``'s router (once its routes are added;
    routes added later are indexed on the next request)."""
    app.router.middleware_stack = RouteIndex(app.router)
