"""Stopping tasks for sure, including one that loses its first cancellation."""

from __future__ import annotations

import asyncio
import gc
import sys

import pytest

from parley.aio import stop

pytestmark = pytest.mark.anyio

DEADLINE = 10.0


async def stubborn(lost: list[int], times: int) -> None:
    """Loses its first ``times`` cancellations, as a task does whose awaited call returns
    in the same loop turn as the cancellation on Python 3.11."""
    while True:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            if len(lost) == times:
                raise
            lost.append(1)


async def test_a_task_that_loses_cancellations_is_cancelled_until_it_ends() -> None:
    lost: list[int] = []
    task = asyncio.create_task(stubborn(lost, times=3))
    await asyncio.sleep(0)
    await asyncio.wait_for(stop([task], every=0.01), DEADLINE)
    assert task.cancelled() and len(lost) == 3


async def test_one_cancellation_is_not_enough_for_such_a_task() -> None:
    lost: list[int] = []
    task = asyncio.create_task(stubborn(lost, times=1))
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.2)
    assert not done and lost == [1]  # what a plain cancel-then-gather would wait on forever
    await asyncio.wait_for(stop([task]), DEADLINE)


async def test_a_task_that_failed_is_left_failed_and_its_error_counts_as_retrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fail() -> None:
        raise ValueError("boom")

    failed = asyncio.create_task(fail())
    finished = asyncio.create_task(asyncio.sleep(0, "done"))
    await asyncio.wait({failed, finished})
    await stop([failed, finished])
    assert finished.result() == "done" and failed.done() and not failed.cancelled()
    del failed  # an unretrieved error is logged when the task is collected
    gc.collect()
    assert "never retrieved" not in caplog.text


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="asyncio.wait_for loses no cancellation")
async def test_wait_for_loses_a_cancellation_that_comes_with_its_result_on_3_11() -> None:
    """Why :func:`stop` exists: the race, made exact."""
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    got: list[str] = []

    async def waiting() -> None:
        got.append(await asyncio.wait_for(future, 60))
        await asyncio.sleep(60)

    task = asyncio.create_task(waiting())
    await asyncio.sleep(0)
    future.set_result("late")
    task.cancel()  # in the same loop turn as the result
    await asyncio.sleep(0.05)
    assert got == ["late"] and not task.done()  # the cancellation is gone
    await asyncio.wait_for(stop([task]), DEADLINE)
