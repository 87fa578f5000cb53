"""Parley's exceptions. Each carries the HTTP status the web layer answers with.

    ParleyError (500)
    ├── BadRequest (400)
    │   ├── BadImport (400)        an export file that cannot be read at all
    │   └── MalformedConversation  one conversation that cannot be stored (skipped, reported)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    ├── Unprocessable (422)
    ├── RateLimited (429)          carries retry_after seconds
    └── Unavailable (503)          no LLM backend, no agent free in time

The core raises these; only ``web/`` turns them into responses and only ``cli/`` into
exit codes. Messages are written for the person who sent the request and never contain
secrets.
"""

from __future__ import annotations


class ParleyError(Exception):
    status: int = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ParleyError):
    status = 400


class BadImport(BadRequest):
    pass


class MalformedConversation(BadRequest):
    def __init__(self, detail: str, conversation_id: str | None = None) -> None:
        super().__init__(detail)
        self.conversation_id = conversation_id


class Unauthorized(ParleyError):
    status = 401


class Forbidden(ParleyError):
    status = 403


class NotFound(ParleyError):
    status = 404


class Conflict(ParleyError):
    status = 409


class PayloadTooLarge(ParleyError):
    status = 413


class Unprocessable(ParleyError):
    status = 422


class RateLimited(ParleyError):
    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(ParleyError):
    status = 503
