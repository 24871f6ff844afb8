"""FleetSide: the watcher as its store sees it, the doors for news from other replicas.

A shared store hears what the rest of the fleet did (a watch ended there, events
delivered there, a 429) and claims watches for this replica; it tells the watcher
through this one object (a ``_store.Fleet``), which hands each item to the part that
owns it: the watch, the event streams, the schedule, the pacer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from .._models import Job
from ._delivery import Delivery
from ._events import JobEvent, Statuses
from ._pacer import Pacer
from ._poller import Poller
from ._snapshot import Snapshot
from ._watch import Outcome, Phase, Watch
from ._watchset import WatchSet

__all__ = ["FleetSide"]


class FleetSide:
    """What a store may ask of, and tell, one watcher."""

    __slots__ = ("_delivery", "_pacer", "_poller", "_take", "_watches")

    def __init__(
        self,
        watches: WatchSet,
        delivery: Delivery,
        poller: Poller,
        pacer: Pacer,
        take: Callable[[], Snapshot],
    ) -> None:
        self._watches = watches
        self._delivery = delivery
        self._poller = poller
        self._pacer = pacer
        self._take = take

    @property
    def interval(self) -> float:
        return self._poller.policy.interval

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

    def adopt(self, job_id: str, known: Statuses) -> Watch | None:
        """This replica polls ``job_id`` from now on: its watch, or None if polled already."""
        watch = self._watches.get(job_id)
        if watch is None:
            watch = Watch(job_id, self._watches, self._delivery, known, Phase.FOLLOWING)
            self._watches.add(watch)
        elif watch.polling:
            return None
        watch.adopted(known)
        return watch
