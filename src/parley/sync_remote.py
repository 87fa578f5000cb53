"""HTTP for :mod:`parley.sync`: GET with retries, backoff, ``Retry-After`` and a give-up rule.

* 2xx with a JSON body: the answer. A body that is not JSON counts as a failure.
* 429: wait ``Retry-After`` (seconds or an HTTP date), capped at
  ``RetryPolicy.max_retry_after``, or the backoff when the header is missing; up to
  ``rate_limited`` times per request.
* 5xx, 408, connection errors (refused, dropped, timed out): wait the backoff
  ``min(cap, base * 2 ** (n - 1))`` and try again, ``attempts`` tries in all.
* 401/403: :class:`~parley.errors.Unauthorized` at once (the token is wrong or expired).
* 404 and other 4xx: :class:`Failed` at once.

A request that fails for good raises :class:`Failed`; after ``give_up_after`` consecutive
ones (404s aside) the server is considered down and :class:`~parley.errors.Unavailable`
ends the run. ``sleep`` is injectable so tests never wait. The token goes only into the
``Authorization`` header; no message here contains it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx
import orjson

from parley import __version__
from parley.errors import Unauthorized, Unavailable


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries per request on 5xx, 408 and connection errors
    rate_limited: int = 30  # 429 answers tolerated per request
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 300.0
    give_up_after: int = 3  # consecutive requests failed for good -> Unavailable
    timeout: float = 60.0

    def backoff(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, failures - 1)))


class Failed(Exception):
    """One request failed for good (after its retries)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status

    def unavailable(self) -> Unavailable:
        return Unavailable(
            f"the server keeps failing ({self.reason}); nothing was lost: run the same "
            "command again later to continue where this run stopped"
        )


def retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


class Remote:
    def __init__(
        self,
        base: str,
        token: str,
        *,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        self.base, self.policy, self.sleep = base, policy, sleep
        self.consecutive = 0
        self.http = httpx.Client(
            base_url=base,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"parley/{__version__} (sync)",
            },
            timeout=httpx.Timeout(policy.timeout, connect=min(10.0, policy.timeout)),
            follow_redirects=False,
        )

    def __enter__(self) -> Remote:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.http.close()

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.get_bytes(path, params)[1]

    def get_bytes(self, path: str, params: dict[str, Any] | None = None) -> tuple[bytes, Any]:
        """The body and its parsed JSON; Failed, Unauthorized or Unavailable otherwise."""
        try:
            answer = self._get(path, params)
        except Failed as failure:
            if failure.status != 404:
                self.consecutive += 1
                if self.consecutive >= self.policy.give_up_after:
                    raise failure.unavailable() from None
            raise
        self.consecutive = 0
        return answer

    def _get(self, path: str, params: dict[str, Any] | None) -> tuple[bytes, Any]:
        errors = limited = 0
        policy = self.policy
        while True:
            status: int | None = None
            try:
                response = self.http.get(path, params=params)
            except httpx.TransportError as exc:
                reason = f"no answer from the server ({type(exc).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        return response.content, orjson.loads(response.content)
                    except orjson.JSONDecodeError:
                        reason = "the answer is not JSON"
                elif status in (401, 403):
                    raise Unauthorized(
                        f"{self.base} refused the token ({status}); get a fresh one (for "
                        "chatgpt.com: the Authorization header of a request to "
                        "/backend-api/conversations in the browser's developer tools)"
                    )
                elif status == 429:
                    limited += 1
                    if limited > policy.rate_limited:
                        raise Failed(f"still rate limited after {limited} answers 429", 429)
                    wait = retry_after(response.headers.get("retry-after"), now=time.time())
                    wait = policy.backoff(limited) if wait is None else wait
                    self.sleep(min(wait, policy.max_retry_after))
                    continue
                elif status >= 500 or status == 408:
                    reason = f"server error {status}"
                else:
                    snippet = response.text[:200].replace("\n", " ")
                    raise Failed(f"the server answered {status}: {snippet}", status)
            errors += 1
            if errors >= policy.attempts:
                raise Failed(f"{reason} ({errors} tries)", status)
            self.sleep(policy.backoff(errors))
