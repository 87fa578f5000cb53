"""Stopping asyncio tasks for sure.

On Python 3.11 a cancellation can be lost: ``asyncio.wait_for`` returns the result of a
future that completes in the same loop turn as the cancellation and drops the
cancellation, and libraries use it inside their calls (redis-py does, around every
command). A task that loops over such calls and is cancelled once may then run on; a
``gather`` after that ``cancel`` waits forever. Parley's own code waits with
``asyncio.timeout`` instead, and stops its background tasks with :func:`stop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

RECANCEL_SECONDS = 0.1


async def stop(tasks: Iterable[asyncio.Future[Any]], *, every: float = RECANCEL_SECONDS) -> None:
    """Cancel ``tasks`` and wait until every one has finished, cancelling again, every
    ``every`` seconds, those still running. Their results and errors are dropped."""
    every_task = list(tasks)
    pending = {task for task in every_task if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=every)
    for task in every_task:
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warning
