"""TaskGroup: the one owner of a watcher's background tasks.

Every task a watcher runs in the background is started here: the poller's workers, the
fleet side's claim loop, the outboxes' couriers, the disk reads, and its store's (the
state file's writer; a Redis store's listener and batch flusher, handed the group with
``Fleet.tasks`` at open). ``aclose``, the last step of the watcher's close, cancels and
awaits them all, so no task outlives the watcher; ``stop`` ends one of them earlier,
where an owner must order its close (a Redis store stops its listener before it
disconnects). (``asyncio.TaskGroup`` is Python 3.11+, and it ends every
task at the first that fails; a courier whose callback raised must not end the others.)

A task is cancelled again until it has ended: a cancellation can be lost on its way down
(a library's timeout that fires in the same loop step turns it into a ``TimeoutError``,
which a retry loop then waits out), and a task that lost it would be waited for forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskGroup", "cancel_and_wait"]

_AGAIN = 0.1  # seconds between cancellations of a task that has not ended yet


class TaskGroup:
    """Tasks started for one owner, and ended together when it closes."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """How many of its tasks are running."""
        return len(self._tasks)

    def start(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coroutine`` in a task of this group (it leaves the group when done)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self, task: asyncio.Task[None]) -> None:
        """End one task of the group ahead of the others: cancel it and wait for it."""
        await cancel_and_wait([task])

    async def aclose(self) -> None:
        """Cancel every task of the group and wait until each has ended; all but the
        caller's own, which may be one of them (a callback that closes the watcher)."""
        current = asyncio.current_task()
        await cancel_and_wait([task for task in self._tasks if task is not current])


async def cancel_and_wait(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks``, again every ``_AGAIN`` seconds for those that go on, until all
    have ended (their outcomes are theirs: a task that failed was logged by its owner)."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=_AGAIN)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: nothing to log at garbage collection
