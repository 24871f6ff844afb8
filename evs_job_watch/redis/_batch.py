"""Batches: a replica's updates to the fleet, queued and sent a batch at a time.

Everything queued within a short window goes in one call, and what comes while a call is
under way goes in the next one: polls spread out by a rate limit rarely change statuses
in the same turn of the loop, but do within the window. How one batch is sent (through a
reset of Redis's data) is the store's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .._core._tasks import TaskGroup

__all__ = ["Batches", "until_set"]

logger = logging.getLogger("evs_job_watch")

Item = dict[str, object]


class Batches:
    """Items queued, sent by ``send`` in batches; ``drain`` waits for what was queued."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[None]],
        window: Callable[[], float],
        tasks: Callable[[], TaskGroup],
    ) -> None:
        self._send = send
        self._tasks = tasks  # the watcher's task group, once the store is open
        self._window = window  # seconds an item waits for others to travel with it
        self._items: list[Item] = []
        self._flusher: asyncio.Task[None] | None = None
        self._queued = self._sent = 0  # items queued, and sent (or dropped after a reset)
        self._progress = asyncio.Event()  # a batch went through
        self._hurry = asyncio.Event()
        self._closed = False

    def queue(self, item: Item) -> None:
        if self._closed:
            return
        self._items.append(item)
        self._queued += 1
        if self._flusher is None or self._flusher.done():
            self._flusher = self._tasks().start(self._flush())

    def queue_all(self, items: list[Item]) -> None:
        for item in items:
            self.queue(item)

    def hurry(self) -> None:
        """Send what is queued now, without waiting out the window."""
        self._hurry.set()

    def keep(self, which: Callable[[list[Item]], list[Item]]) -> None:
        """Keep of the queued items only ``which`` (after a reset); the others count as sent."""
        before = len(self._items)
        self._items = which(self._items)
        self._sent += before - len(self._items)

    async def drain(self) -> None:
        """Wait until everything queued so far has been sent."""
        target = self._queued
        while self._sent < target:
            if self._flusher is None or self._flusher.done():
                if not self._items:
                    return  # dropped at close
                self._flusher = self._tasks().start(self._flush())
            self._hurry.set()
            self._progress.clear()
            await self._progress.wait()

    def seal(self) -> None:
        """Take no more items: what comes now (answers still under way) is the next owner's."""
        self._closed = True

    async def close(self, timeout: float) -> None:
        """Take no more items, and send those queued within ``timeout`` seconds."""
        self.seal()
        if self._flusher is None:
            return
        try:  # a Redis that is down must not hold the service's exit for long
            await asyncio.wait_for(asyncio.shield(self._flusher), timeout)
        except asyncio.TimeoutError:
            logger.warning("Redis unreachable at close: %d updates not sent", len(self._items))
            await self._tasks().stop(self._flusher)

    async def _flush(self) -> None:
        await until_set(self._hurry, self._window())  # a 429 to tell does not wait
        while self._items:
            self._hurry.clear()
            items, self._items = self._items, []
            await self._send(items)
            self._sent += len(items)
            self._progress.set()


async def until_set(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set, for ``seconds`` at most. Not ``asyncio.wait_for``:
    before Python 3.12 it swallows a cancellation that comes as the event is set, and a
    claim loop that survives its cancellation keeps the watcher's close waiting forever."""
    timer = asyncio.get_running_loop().call_later(seconds, event.set)
    try:
        await event.wait()
    finally:
        timer.cancel()
