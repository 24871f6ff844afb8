"""TaskGroup: a watcher's background tasks, each started by it and all ended by its close."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from evs_job_watch._core._tasks import TaskGroup


async def idle() -> None:
    await asyncio.Event().wait()


async def test_close_cancels_and_awaits_every_task() -> None:
    group, ended = TaskGroup(), []

    async def forever(n: int) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(n)

    tasks = [group.start(forever(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert len(group) == 3
    await group.aclose()
    assert sorted(ended) == [0, 1, 2]
    assert all(task.cancelled() for task in tasks)
    assert len(group) == 0


async def test_a_task_that_fails_leaves_the_group_and_ends_no_other() -> None:
    group = TaskGroup()

    async def fail() -> None:
        raise RuntimeError("a courier's bug")

    failing = group.start(fail())
    other = group.start(idle())
    await asyncio.gather(failing, return_exceptions=True)
    await asyncio.sleep(0)
    assert len(group) == 1 and not other.done()
    await group.aclose()
    assert other.cancelled()


async def test_close_from_a_task_of_the_group_ends_the_others_not_itself() -> None:
    group, closed = TaskGroup(), asyncio.Event()
    other = group.start(idle())

    async def closer() -> None:
        await group.aclose()  # as a callback that closes its watcher does
        closed.set()

    own = group.start(closer())
    await own
    assert closed.is_set() and other.cancelled()


async def test_one_task_is_stopped_ahead_of_the_others() -> None:
    group = TaskGroup()
    first = group.start(idle())
    second = group.start(idle())
    await group.stop(first)
    assert first.cancelled() and not second.done()
    await group.aclose()


def _stubborn(swallowed: list[int]) -> Coroutine[Any, Any, None]:
    """A task that loses its first cancellation, as a retry loop does that takes it for a
    timeout of its own, and then waits again."""

    async def run() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.append(1)
        await asyncio.Event().wait()

    return run()


@pytest.mark.virtual_clock
async def test_stop_cancels_again_a_task_that_lost_its_cancellation() -> None:
    group, swallowed = TaskGroup(), []
    task = group.start(_stubborn(swallowed))
    await asyncio.sleep(0)
    await asyncio.wait_for(group.stop(task), 60)
    assert swallowed == [1]
    assert task.cancelled()


@pytest.mark.virtual_clock
async def test_close_cancels_again_a_task_that_lost_its_cancellation() -> None:
    group, swallowed = TaskGroup(), []
    tasks = [group.start(_stubborn(swallowed)), group.start(idle())]
    await asyncio.sleep(0)
    await asyncio.wait_for(group.aclose(), 60)
    assert swallowed == [1]
    assert all(task.cancelled() for task in tasks)
