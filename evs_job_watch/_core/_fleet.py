"""FleetSide: the watcher as its store sees it, the doors for news from other replicas.

A shared store hears what the rest of the fleet did (a watch ended there, events
delivered there, a 429) and claims watches for this replica; it tells the watcher
through this one object (a ``_store.Fleet``), which hands each item to the part that
owns it: the watch, the event streams, the schedule, the pacer. Its claim loop asks the
store for each claim cycle's claims and carries them out: adopts what is claimed (due
at once), lets go of what another replica polls now, hands back its surplus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from .._models import Job
from ._delivery import Delivery
from ._events import JobEvent, Statuses
from ._pacer import Pacer
from ._poller import Poller
from ._ready import DiskReader, ReadyStatuses
from ._snapshot import Snapshot
from ._store import Claims, Store
from ._tasks import TaskGroup
from ._watch import Outcome, Phase, Watch
from ._watchset import WatchSet

__all__ = ["FleetSide"]

logger = logging.getLogger("evs_job_watch")

_RETRY = 0.25  # seconds before a claim cycle that failed is tried again


class FleetSide:
    """What a store may ask of, and tell, one watcher."""

    __slots__ = (
        "_claimer",
        "_delivery",
        "_disks",
        "_pacer",
        "_poller",
        "_take",
        "_tasks",
        "_watches",
    )

    def __init__(
        self,
        watches: WatchSet,
        delivery: Delivery,
        poller: Poller,
        pacer: Pacer,
        take: Callable[[], Snapshot],
        tasks: TaskGroup,
        disks: DiskReader | None = None,
    ) -> None:
        self._watches = watches
        self._disks = disks  # ready mode's disk reader, if the client reads disks
        self._delivery = delivery
        self._poller = poller
        self._pacer = pacer
        self._take = take
        self._tasks = tasks
        self._claimer: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        return self._poller.policy.interval

    @property
    def tasks(self) -> TaskGroup:
        return self._tasks

    def snapshot(self) -> Snapshot:
        return self._take()

    def watches(self) -> list[Watch]:
        return self._watches.live()

    def finishing(self) -> list[Watch]:
        return self._watches.finishing()

    def ended(self, job_id: str, outcome: Outcome | None) -> None:
        if isinstance(outcome, Job):
            self._poller.learn(outcome)
        watch = self._watches.get(job_id)
        if watch is not None:
            watch.ended_elsewhere(outcome)

    def listens(self) -> bool:
        return bool(self._delivery.streams)

    def heard(self, events: Sequence[JobEvent]) -> None:
        self._delivery.publish(events)

    def throttled(self, pause: float) -> None:
        self._pacer.throttled(asyncio.get_running_loop().time(), pause, heard=True)

    def readied(self, job_id: str) -> None:
        watch = self._watches.get(job_id)
        if watch is not None and self._disks is not None:
            watch.make_ready(self._disks, known=True)

    def lapsed(self, job_id: str) -> None:
        watch = self._watches.get(job_id)
        if watch is None:
            return
        polled = watch.polling
        watch.lapsed()
        if polled and watch.live:  # held here still: the fleet hands it out anew
            self._poller.drop_yielded()

    def adopt(self, job_id: str, known: Statuses) -> Watch | None:
        """This replica polls ``job_id`` from now on: its watch, or None if polled already.

        ``known`` as ``ReadyStatuses``: the fleet's watch is in ready mode (its ready
        phase goes on here)."""
        ready = isinstance(known, ReadyStatuses)
        disks = self._disks if ready else None
        if ready and disks is None:
            logger.warning("job %s: ready mode needs a client that reads disks", job_id)
        watch = self._watches.get(job_id)
        if watch is None:
            watch = Watch(job_id, self._watches, self._delivery, known, Phase.FOLLOWING, disks)
            self._watches.add(watch)
        elif watch.polling:
            return None
        elif disks is not None:
            watch.make_ready(disks, known=True)
        watch.adopted(known)
        return watch

    # -- the claim loop ------------------------------------------------------------------

    def start_claiming(self, store: Store) -> None:
        """Poll what the store's claim cycles hand to this replica, from now on."""
        self._claimer = self._tasks.start(self._claim_loop(store))

    async def stop_claiming(self) -> None:
        """End the claim loop (the watcher closes its store next)."""
        claimer, self._claimer = self._claimer, None
        if claimer is not None:
            await self._tasks.stop(claimer)

    async def _claim_loop(self, store: Store) -> None:
        while True:
            try:
                claims = await store.claim()  # waits for its cycle; retries faults
                self._carry_out(claims, store)
            except Exception:  # a bug must not end the claims, and with them the leases
                logger.exception("a claim cycle failed; trying again")
                await asyncio.sleep(_RETRY)

    def _carry_out(self, claims: Claims, store: Store) -> None:
        for job_id in claims.lost:
            watch = self._watches.get(job_id)
            if watch is not None and watch.polling:
                # A lease that lapsed while this replica lived (a stall longer than it):
                # its last events may be delivered again by the new owner.
                logger.warning("job %s: its lease lapsed; another replica polls it", job_id)
                watch.yielded()
        if claims.lost:
            self._poller.drop_yielded()
        for job_id, known in claims.claimed:
            watch = self.adopt(job_id, known)
            if watch is not None:
                self._poller.schedule(watch, 0.0)
        if claims.shed:
            handed = self._poller.shed(claims.shed)
            if handed:
                logger.info("handing %d watches back to the fleet", len(handed))
                store.handed_back(handed)
