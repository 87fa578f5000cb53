"""A misbehaving ChatGPT-style backend API on 127.0.0.1, for the sync tests.

It serves ``GET /backend-api/conversations?offset&limit&order`` (newest update first,
``limit`` 1-100, ISO times, ``{items, total, limit, offset, has_missing_conversations}``)
and ``GET /backend-api/conversation/{id}`` (the export shape) from :attr:`conversations`,
behind a bearer token, on a real socket (``http.server`` in a thread). Misbehaviour:

* :attr:`faults`: ``fault(number, path, query) -> Fault | None`` decides per request
  (numbered from 1): answer 429 (with or without ``Retry-After``), 500, drop the connection before
  answering, or cut the body short;
* :attr:`before_list`: called with the offset before each list page is answered, so a
  test can add, update or delete conversations between pages;
* :attr:`without_ids`: details lack ``id`` (as some ChatGPT versions send them).

Every request is logged in :attr:`log` (number, path, query, what was answered).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

TOKEN = "flaky-token-0123456789"


@dataclass(frozen=True)
class Fault:
    kind: str  # "429", "500", "drop", "truncate"
    retry_after: str | None = None

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1") -> Fault:
        return cls("429", retry_after)


@dataclass
class Logged:
    number: int
    path: str
    query: dict[str, str]
    answer: str  # "200", "429", "500", "drop", "truncate", "401", "404", "422"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FlakyBackend:
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: Callable[[int, str, dict[str, str]], Fault | None] = lambda n, path, query: None
    before_list: Callable[[int], None] = lambda offset: None
    without_ids: bool = False
    log: list[Logged] = field(default_factory=list)
    url: str = ""
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *items: dict[str, Any]) -> None:
        for item in items:
            self.conversations[item["id"]] = item

    def details_fetched(self) -> list[str]:
        """Ids of the details answered 200, in order (one entry per successful fetch)."""
        prefix = "/backend-api/conversation/"
        fetched = [e for e in self.log if e.path.startswith(prefix) and e.answer == "200"]
        return [unquote(e.path[len(prefix) :]) for e in fetched]

    def list_requests(self) -> list[Logged]:
        return [e for e in self.log if e.path == "/backend-api/conversations"]

    def _page(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        offset, limit = int(query.get("offset", "0")), int(query.get("limit", "28"))
        if limit > 100:
            too_big = "ensure this value is less than or equal to 100"
            return 422, {"detail": [{"loc": ["query", "limit"], "msg": too_big}]}
        self.before_list(offset)
        ordered = sorted(self.conversations.values(), key=lambda c: (-c["update_time"], c["id"]))
        items = [
            {
                "id": c["id"],
                "title": c.get("title"),
                "create_time": iso(c["create_time"]),
                "update_time": iso(c["update_time"]),
                "mapping": None,
                "current_node": None,
                "is_archived": False,
            }
            for c in ordered[offset : offset + limit]
        ]
        body = {"items": items, "total": len(ordered), "limit": limit, "offset": offset}
        return 200, {**body, "has_missing_conversations": False}

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._count += 1
            number = self._count
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        entry = Logged(number, parts.path, query, "")
        self.log.append(entry)
        if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
            entry.answer = "401"
            return _send(handler, 401, {"detail": "bad token"})
        fault = self.faults(number, parts.path, query)
        if fault is not None:
            entry.answer = fault.kind
            if fault.kind == "drop":
                handler.close_connection = True
                return None  # nothing sent: the client sees the connection close
            if fault.kind == "truncate":
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", "1000")
                handler.end_headers()
                handler.wfile.write(b'{"items": [')
                handler.close_connection = True
                return None
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return _send(handler, int(fault.kind), {"detail": "injected"}, headers)
        if parts.path == "/backend-api/conversations":
            status, body = self._page(query)
        elif parts.path.startswith("/backend-api/conversation/"):
            cid = unquote(parts.path.rsplit("/", 1)[1])
            found = self.conversations.get(cid)
            status, body = (404, {"detail": "not found"}) if found is None else (200, found)
            if found is not None and self.without_ids:
                body = {k: v for k, v in found.items() if k != "id"}
        else:
            status, body = 404, {"detail": "no such route"}
        entry.answer = str(status)
        return _send(handler, status, body)


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    data = orjson.dumps(body)
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def running(backend: FlakyBackend) -> Iterator[FlakyBackend]:
    """Serve ``backend`` on a free port of 127.0.0.1 until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            backend.answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="flaky-backend", daemon=True)
    thread.start()
    backend.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield backend
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
