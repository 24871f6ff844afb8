"""DiskReads: the disks every ready-mode watch of a watcher waits for, read in batches.

One task reads them while any watch waits (a ``Readiness``, or a job followed for
hints: ``_hints``): every disk wanted, in listings of up to 60
(``list_volumes``), each request paced like a job poll (the same ``Pacer``, through the
poller's turns: it is the same account), then again an ``interval`` later. What a
listing found goes to each waiter (``DiskWaiter``); a disk not in it was not found.
Transient errors are retried on the next round; a refusal, or ``max_consecutive_errors``
transient ones in a row, fails the waiting watches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

from .._errors import EvsJobWatchError, ThrottledError
from .._models import Volume
from .._policy import PollPolicy
from ._pacer import Pacer
from ._schedule import is_transient
from ._tasks import TaskGroup

__all__ = ["MAX_IDS", "DiskReads", "DiskWaiter", "VolumeSource"]

logger = logging.getLogger("evs_job_watch")

MAX_IDS = 60  # disks one listing answers at most


@runtime_checkable
class VolumeSource(Protocol):
    """A client that reads disks: ``EvsJobClient.list_volumes``."""

    async def list_volumes(self, volume_ids: Iterable[str]) -> list[Volume]: ...


class DiskWaiter(Protocol):
    """What waits for disks: a ``Readiness``, or a job followed for hints."""

    def read(self, disks: Mapping[str, Volume | None]) -> None:
        """The disks it wants, as a listing just read them (None: not found)."""

    def failed(self, error: EvsJobWatchError) -> None:
        """The disks could not be read (a refusal, or the error budget spent)."""


class DiskReads:
    """The disks wanted by the watches in their ready phase, and the task reading them."""

    def __init__(
        self,
        source: VolumeSource,
        pacer: Pacer,
        turn: Callable[[], Awaitable[None]],
        policy: PollPolicy,
        tasks: TaskGroup,
    ) -> None:
        self._source = source
        self._pacer = pacer
        self._turn = turn  # the poller's: one request waits for its slot at a time
        self._policy = policy
        self._tasks = tasks
        self._wanted: dict[DiskWaiter, tuple[str, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self.listings = 0  # requests sent

    def want(self, waiter: DiskWaiter, volume_ids: tuple[str, ...]) -> None:
        """Read ``volume_ids`` for ``waiter`` from the next round on, until dropped."""
        self._wanted[waiter] = volume_ids
        if self._task is None:
            self._task = self._tasks.start(self._read_while_wanted())

    def drop(self, waiter: DiskWaiter) -> None:
        """``waiter`` wants its disks no more (its watch ended, say)."""
        self._wanted.pop(waiter, None)

    async def _read_while_wanted(self) -> None:
        errors = 0
        try:
            await asyncio.sleep(0)  # every watch that read SUCCESS in this turn joins in
            while self._wanted:
                try:
                    wanted = self._wanted.values()
                    found = await self._read(dict.fromkeys(i for ids in wanted for i in ids))
                except EvsJobWatchError as exc:
                    errors += 1
                    if not is_transient(exc) or errors >= self._policy.max_consecutive_errors:
                        logger.warning("reading disks failed: %s", exc)
                        for waiter in list(self._wanted):
                            waiter.failed(exc)
                    else:
                        logger.info("reading disks: %s; trying again", exc)
                else:
                    errors = 0
                    for waiter, ids in list(self._wanted.items()):
                        waiter.read({one: found.get(one) for one in ids})
                if self._wanted:
                    await asyncio.sleep(self._policy.interval)
        finally:
            self._task = None

    async def _read(self, wanted: dict[str, None]) -> dict[str, Volume]:
        loop = asyncio.get_running_loop()
        ids = list(wanted)
        found: dict[str, Volume] = {}
        for start in range(0, len(ids), MAX_IDS):
            if self._pacer.spacing:
                await self._turn()
            sent = loop.time()
            self.listings += 1
            try:
                disks = await self._source.list_volumes(ids[start : start + MAX_IDS])
            except ThrottledError as exc:
                self._pacer.throttled(loop.time(), exc.retry_after or 0.0, sent)
                raise
            self._pacer.answered(loop.time(), sent)
            found.update((disk.volume_id, disk) for disk in disks)
        return found
