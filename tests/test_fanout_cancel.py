"""A cancellation that arrives as a job ends is not lost by the fan-out helpers.

Before Python 3.12, ``asyncio.wait_for`` returns the result instead of raising when its
task is cancelled just after the awaited future completed: a service cancelling a
``wait_all(..., timeout=...)`` then saw it return as if nothing had happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from evs_job_watch import Job, JobHandle, JobWatcher
from evs_job_watch._core._fanout import completed, gather

from .scripted import FAST, ScriptedClient, make_job

pytestmark = pytest.mark.virtual_clock


async def cancelled_as_the_handle_ends(
    wait: Callable[[JobHandle], Awaitable[object]],
) -> asyncio.Future[object]:
    client = ScriptedClient()
    client.script("a", make_job("a", "RUNNING"))
    async with JobWatcher(client, policy=FAST) as watcher:
        handle = watcher.watch("a")
        waiter = asyncio.ensure_future(wait(handle))
        await asyncio.sleep(0)  # the waiter now waits inside the helper
        # Runs right after the helper's own callback: the helper has seen the handle
        # end, and its task is cancelled before it runs again.
        handle.add_done_callback(lambda _: waiter.cancel())
        handle.cancel()
        await asyncio.wait([waiter])
    return waiter


async def test_gather_under_a_timeout_keeps_a_cancel_that_comes_as_a_handle_ends() -> None:
    waiter = await cancelled_as_the_handle_ends(lambda h: gather([h], 60.0, True))
    assert waiter.cancelled()


async def test_completed_under_a_timeout_keeps_a_cancel_that_comes_as_a_handle_ends() -> None:
    async def first(handle: JobHandle) -> Job | None:
        async for job in completed([handle], 60.0):
            return job
        return None

    waiter = await cancelled_as_the_handle_ends(first)
    assert waiter.cancelled()
