"""Watch: the life of one watched job id, from its first poll to its last waiter told.

::

    FOLLOWING ⇄ POLLING ── terminal answer, final error, timeout, release ──▶ DELIVERING ──▶ SETTLED
        └──────────┴──── ended elsewhere ─────────────────────────────────────────▲
        └──────────┴──────────────────────────── close ──────────────────────────────┘

While POLLING, the Poller polls it and hands each answer to ``answered``. Once it has
ended, its last callbacks run (DELIVERING), and then its holders are told how it ended
(SETTLED). With a shared store (``_store``) a watch is polled by one replica of the
fleet at a time: elsewhere it is FOLLOWING, polled by none here, until this replica
claims it (``adopted``) or the fleet reports its end (``ended_elsewhere``). With the
local store every watch starts POLLING and never follows. Everything that happens to a
watch is one of its methods; other modules ask it, they do not reach into it.
"""

from __future__ import annotations

import enum
import functools
from typing import Protocol

from ._delivery import Delivery
from ._errors import WatcherClosedError, WatchTimeoutError
from ._events import JobEvent, Statuses
from ._models import Job
from ._outbox import Item, Outbox, Record
from ._schedule import START, Cadence
from ._snapshot import SavedWatch

__all__ = ["Holder", "Outcome", "Phase", "Tracker", "Watch"]

# How a watch ended, for its holders: the terminal Job, or the error that ended it.
Outcome = Job | BaseException


class Phase(enum.Enum):
    FOLLOWING = "following"  # shared store: live, polled by another replica (or none yet)
    POLLING = "polling"  # polled here, on its schedule
    DELIVERING = "delivering"  # ended; its last callbacks run before the holders are told
    SETTLED = "settled"  # the holders know how it ended


class Holder(Protocol):
    """A claim on a watch (a ``JobHandle``), as the watch sees it."""

    def settle(self, outcome: Outcome) -> None: ...

    def deadline(self) -> float | None: ...


class Tracker(Protocol):
    """The set of watches (``WatchSet``), as each watch reports to it."""

    def held(self, watch: Watch) -> None: ...

    def ended(self, watch: Watch) -> None: ...

    def recorded(self, watch: Watch, event: JobEvent) -> None: ...

    def settled(self, watch: Watch, outcome: Outcome | None, here: bool) -> None: ...


class Watch:
    """One watched job: what was seen, what was delivered, who waits for the outcome."""

    __slots__ = (
        "_delivered",
        "_delivery",
        "_holders",
        "_outbox",
        "_seen",
        "_tracker",
        "cadence",
        "job_id",
        "latest",
        "phase",
    )

    def __init__(
        self,
        job_id: str,
        tracker: Tracker,
        delivery: Delivery,
        known: Statuses | None = None,
        phase: Phase = Phase.POLLING,
    ) -> None:
        self.job_id = job_id
        self.phase = phase
        self.latest: Job | None = None  # the last answer
        self.cadence: Cadence = START  # the Poller's: how this watch is being polled
        # What the polls have shown (the next answer is compared with it), and what was
        # delivered (what a snapshot keeps); both start from a resumed snapshot's.
        known = known or Statuses()
        self._seen = known
        self._delivered = Statuses(known.job, known.subs)
        self._holders: list[Holder] = []
        self._outbox: Outbox | None = None  # made at the first delivery
        self._tracker = tracker
        self._delivery = delivery

    def __repr__(self) -> str:
        return f"<Watch {self.job_id} {self.phase.value}>"

    @property
    def polling(self) -> bool:
        """Whether this replica polls it now."""
        return self.phase is Phase.POLLING

    @property
    def live(self) -> bool:
        """Whether it has not ended yet (polled here or elsewhere)."""
        return self.phase is Phase.POLLING or self.phase is Phase.FOLLOWING

    @property
    def held(self) -> bool:
        """Whether a caller of this replica waits for it."""
        return bool(self._holders)

    # -- what happens to a watch -------------------------------------------------------

    def hold(self, holder: Holder) -> None:
        """One more caller waits for this watch."""
        if not self._holders:
            self._tracker.held(self)
        self._holders.append(holder)

    def adopted(self, known: Statuses) -> None:
        """This replica claimed it (shared store): poll it, from what the fleet delivered."""
        if not self.live:
            return
        self.phase = Phase.POLLING
        self._seen = known
        self._delivered = Statuses(known.job, known.subs)

    def yielded(self) -> None:
        """Another replica polls it from now on (a lease lost or handed over)."""
        if self.polling:
            self.phase = Phase.FOLLOWING

    def ended_elsewhere(self, outcome: Outcome | None) -> None:
        """The fleet's watch ended on another replica: tell the holders (no callbacks here).

        ``outcome`` None: every replica released it.
        """
        if self.live:
            self._end(outcome, here=False)

    def answered(self, job: Job) -> bool:
        """A poll's answer: deliver its events, and end if the job ended.

        Returns whether anything changed since the last answer.
        """
        self.latest = job
        events = self._seen.changes(job)
        if events:
            for event in events:
                self._seen.record(event)
            self._post(self._delivery.events(events, self._record))
        if job.status.is_terminal:
            self._end(job)
        return bool(events)

    def failed(self, error: BaseException) -> None:
        """An error ended the polling: not found, a refusal, the error budget spent, a bug."""
        self._end(error)

    def expired(self, holder: Holder, limit: float) -> None:
        """A holder's deadline passed: the watch ends with it if it was the last one."""
        error = WatchTimeoutError(self.job_id, limit)
        if self.live and self._holders == [holder]:
            self._end(error)
        else:
            holder.settle(error)

    def released(self, holder: Holder) -> None:
        """A holder stopped waiting; with none left, polling stops and nobody is told."""
        if holder in self._holders:
            self._holders.remove(holder)
        if not self._holders and self.live:
            self._end(None)

    def closed(self) -> None:
        """The watcher closes: callbacks not yet run are dropped, the holders are told."""
        if self.phase is Phase.SETTLED:
            return
        self.phase = Phase.SETTLED
        if self._outbox is not None:
            self._outbox.cancel()
        self._tell(WatcherClosedError(self.job_id))

    # -- what a snapshot keeps -----------------------------------------------------------

    def delivered(self) -> Statuses:
        """A copy of the statuses whose events were delivered (what a store keeps)."""
        return Statuses(self._delivered.job, self._delivered.subs)

    def saved(self, now: float) -> SavedWatch | None:
        """The watch as a snapshot keeps it, or None if a restart must not resume it.

        A live watch is kept, and so is one that ended with its job while the job's last
        events are being delivered: those are delivered again after a restart, not lost.
        """
        if self._delivered.ended or self.phase is Phase.SETTLED:
            return None
        if self.phase is Phase.DELIVERING and not (self.latest and self.latest.is_terminal):
            return None
        deadlines = [holder.deadline() for holder in self._holders]
        timeout = None
        if deadlines and None not in deadlines:
            timeout = max(0.0, max(d for d in deadlines if d is not None) - now)
        return SavedWatch(self.job_id, self._delivered.job, self._delivered.subs or {}, timeout)

    # -- the steps of an ending --------------------------------------------------------

    def _end(self, outcome: Outcome | None, here: bool = True) -> None:
        """POLLING to DELIVERING; the holders are told after the callbacks posted so far.

        ``outcome`` None: released, nobody is left to tell. ``here`` False: it ended on
        another replica, whose callbacks ran there.
        """
        self.phase = Phase.DELIVERING
        self._tracker.ended(self)
        items: list[Item] = []
        if here and isinstance(outcome, BaseException):
            items.extend(self._delivery.error(self.job_id, outcome))
        items.append(Record(functools.partial(self._settle, outcome, here)))
        self._post(items)

    def _settle(self, outcome: Outcome | None, here: bool) -> None:
        """DELIVERING to SETTLED: its callbacks ran (unless it was closed meanwhile)."""
        if self.phase is not Phase.DELIVERING:
            return
        self.phase = Phase.SETTLED
        self._tracker.settled(self, outcome, here)
        if outcome is not None:
            self._tell(outcome)

    def _tell(self, outcome: Outcome) -> None:
        for holder in list(self._holders):
            holder.settle(outcome)

    def _record(self, event: JobEvent) -> None:
        """An event's callbacks returned: it counts as delivered from now on."""
        self._delivered.record(event)
        self._tracker.recorded(self, event)

    def _post(self, items: list[Item]) -> None:
        if self._outbox is None:
            self._outbox = self._delivery.outbox()
        self._outbox.post(items)
