"""TaskGroup: the one owner of a watcher's background tasks.

Every task a watcher runs in the background (the poller's workers and claim loop, the
outboxes' couriers) is started here, and ``aclose`` cancels and awaits them all, so no
task outlives the watcher. (``asyncio.TaskGroup`` is Python 3.11+, and it ends every
task at the first that fails; a courier whose callback raised must not end the others.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskGroup"]


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
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel every task of the group and wait until each has ended; all but the
        caller's own, which may be one of them (a callback that closes the watcher)."""
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
