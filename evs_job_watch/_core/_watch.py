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

import attrs

from .._errors import WatcherClosedError, WatchTimeoutError
from .._models import Job, JobStatus
from .._wire._codec import Answer
from ._delivery import Delivery
from ._events import JobEvent, Statuses
from ._outbox import Item, Outbox, Record
from ._ready import DiskReader, Readiness, Verdict, failed_after_success
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

    def lengthened(self, watch: Watch) -> None: ...

    def ended(self, watch: Watch) -> None: ...

    def recorded(self, watch: Watch, event: JobEvent) -> None: ...

    def readied(self, watch: Watch) -> None: ...

    def settled(self, watch: Watch, outcome: Outcome | None, here: bool) -> None: ...


class Watch:
    """One watched job: what was seen, what was delivered, who waits for the outcome."""

    __slots__ = (
        "_delivered",
        "_delivery",
        "_held",
        "_outbox",
        "_ready",
        "_seen",
        "_tracker",
        "answer",
        "job_id",
        "phase",
        "polling",
        "stint",
    )

    def __init__(
        self,
        job_id: str,
        tracker: Tracker,
        delivery: Delivery,
        known: Statuses | None = None,
        phase: Phase = Phase.POLLING,
        ready: DiskReader | None = None,
    ) -> None:
        self.job_id = job_id
        self.phase = phase
        self.polling = phase is Phase.POLLING  # a plain attribute, read a few times a poll
        # Its stints of polling here: one more each time it yields (a place in the
        # poller's schedule from an earlier stint is stale: Place.live).
        self.stint = 0
        self.answer: Answer | None = None  # the last answer; given back when it repeats
        # What the polls have shown (the next answer is compared with it), and what was
        # delivered (what a snapshot keeps); both start from a resumed snapshot's. The
        # delivered side is None while it equals the seen one, as it does whenever no
        # event is on its way: most watches, most of the time, keep one Statuses.
        self._seen = known or Statuses()
        self._delivered: Statuses | None = None
        # One holder kept as it is (most watches have one), more in a tuple: see _holders.
        self._held: Holder | tuple[Holder, ...] | None = None
        self._outbox: Outbox | None = None  # only while it has items to run
        self._tracker = tracker
        self._delivery = delivery
        self._ready: Readiness | None = None  # ready mode: its phase after a SUCCESS
        if ready is not None:
            self._ready = Readiness(ready, self._readied)

    def __repr__(self) -> str:
        return f"<Watch {self.job_id} {self.phase.value}>"

    @property
    def latest(self) -> Job | None:
        """The job as the last answer showed it."""
        return None if self.answer is None else self.answer.job

    @property
    def live(self) -> bool:
        """Whether it has not ended yet (polled here or elsewhere)."""
        return self.phase is Phase.POLLING or self.phase is Phase.FOLLOWING

    @property
    def finishing(self) -> bool:
        """Whether its job ended here (a terminal answer) and its last callbacks run."""
        latest = self.latest
        return self.phase is Phase.DELIVERING and latest is not None and latest.is_terminal

    @property
    def ready(self) -> bool:
        """Whether it is in ready mode (what a store records with it)."""
        return self._ready is not None

    @property
    def held(self) -> bool:
        """Whether a caller of this replica waits for it."""
        return self._held is not None

    # -- what happens to a watch -------------------------------------------------------

    def make_ready(self, reader: DiskReader, *, known: bool = False) -> None:
        """Ready mode from now on (``_ready``); a watch in it stays in it. The store is
        told, unless it is where this was ``known`` from (a shared store's record)."""
        if self._ready is None and self.live:
            self._ready = Readiness(reader, self._readied)
            if not known:
                self._tracker.readied(self)

    def hold(self, holder: Holder) -> None:
        """One more caller waits for this watch."""
        holders = self._holders()
        if not holders:
            self._keep((holder,))
            self._tracker.held(self)
            return
        before = self.until()
        self._keep((*holders, holder))
        after = self.until()
        if before is not None and after is not None and after > before:
            self._tracker.lengthened(self)  # the fleet's deadline of it may move

    def until(self) -> float | None:
        """The loop time until which its holders wait: the latest of their deadlines,
        ``inf`` if one waits without a deadline; None while nobody holds it."""
        holders = self._holders()
        if not holders:
            return None
        deadlines = [holder.deadline() for holder in holders]
        return float("inf") if None in deadlines else max(d for d in deadlines if d is not None)

    def adopted(self, known: Statuses) -> None:
        """This replica claimed it (shared store): poll it, from what the fleet delivered."""
        if not self.live:
            return
        self._enter(Phase.POLLING)
        self._seen = known
        self._delivered = None

    def yielded(self) -> None:
        """Another replica polls it from now on (a lease lost or handed over); a ready
        phase under way starts over with the next poll here, if any."""
        if self.polling:
            self._enter(Phase.FOLLOWING)
            self.stint += 1
            if self._ready is not None:
                self._ready.reset()

    def lapsed(self) -> None:
        """The fleet's deadline of the watch passed (shared store): the fleet's watch
        ended. Its holders here timed out by then, and it ends here quietly; a holder
        that still waits (it joined as the deadline passed) starts the fleet's watch anew.
        """
        if not self.live:
            return
        if self._held is None:
            self._end(None, here=False)
            return
        self.yielded()  # polled anew only once the fleet hands it out again
        self._tracker.held(self)

    def ended_elsewhere(self, outcome: Outcome | None) -> None:
        """The fleet's watch ended on another replica: tell the holders (no callbacks here).

        ``outcome`` None: every replica released it.
        """
        if self.live:
            self._end(outcome, here=False)

    def answered(self, answer: Answer) -> bool:
        """A poll's answer: deliver its events, and end if the job ended.

        Returns whether anything changed since the last answer.
        """
        if answer is self.answer:
            return False  # the source saw the same body again: nothing can have changed
        self.answer = answer
        job = answer.job
        events = self._seen.changes(job)
        if self._ready is not None:  # an early SUCCESS may turn to FAIL: that is told
            events = failed_after_success(self._seen, job, events)
        # In ready mode a SUCCESS is not the end yet: the job's disks must be usable too.
        readying = self._ready is not None and job.status is not JobStatus.FAIL
        terminal = job.status.is_terminal and not readying
        if terminal:
            # Out of the live set before any callback runs, so that a terminal callback
            # sees its job no longer watched, be it a plain function or a coroutine.
            self._stop()
        if events:
            if self._delivered is None:
                self._delivered = Statuses(self._seen.job, self._seen.subs)
            for event in events:
                self._seen.record(event)
            self._post(self._delivery.events(events, self._record, self._ready is not None))
        if readying:
            assert self._ready is not None
            self._ready.answered(job)  # it ends the watch once the job is ready
        elif terminal:
            self._end(job)
        return bool(events)

    def failed(self, error: BaseException) -> None:
        """An error ended the polling: not found, a refusal, the error budget spent, a bug."""
        self._end(error)

    def expired(self, holder: Holder, limit: float) -> None:
        """A holder's deadline passed: the watch ends with it if it was the last one."""
        error = WatchTimeoutError(self.job_id, limit)
        if self.live and self._held is holder:
            self._end(error)
        else:
            holder.settle(error)

    def released(self, holder: Holder) -> None:
        """A holder stopped waiting; with none left, polling stops and nobody is told."""
        holders = self._holders()
        if holder in holders:
            self._keep(tuple(other for other in holders if other is not holder))
        if self._held is None and self.live:
            self._end(None)

    def closed(self) -> None:
        """The watcher closes: callbacks not yet run are dropped, the holders are told."""
        if self.phase is Phase.SETTLED:
            return
        self._enter(Phase.SETTLED)
        if self._outbox is not None:
            self._outbox.cancel()
        self._tell(WatcherClosedError(self.job_id))

    # -- what a snapshot keeps -----------------------------------------------------------

    def delivered(self) -> Statuses:
        """A copy of the statuses whose events were delivered (what a store keeps)."""
        delivered = self._delivered or self._seen
        return Statuses(delivered.job, delivered.subs)

    def saved(self, now: float) -> SavedWatch | None:
        """The watch as a snapshot keeps it, or None if a restart must not resume it.

        A live watch is kept, and so is one that ended with its job while the job's last
        events are being delivered: those are delivered again after a restart, not lost.
        """
        delivered = self._delivered or self._seen
        if (delivered.ended and self._ready is None) or self.phase is Phase.SETTLED:
            return None
        if self.phase is Phase.DELIVERING and not self.finishing:
            return None
        until = self.until()
        timeout = None if until is None or until == float("inf") else max(0.0, until - now)
        saved = SavedWatch(self.job_id, delivered.job, delivered.subs or {}, timeout)
        return saved if self._ready is None else attrs.evolve(saved, ready=True)

    # -- the steps of an ending --------------------------------------------------------

    def _end(self, outcome: Outcome | None, here: bool = True) -> None:
        """POLLING to DELIVERING; the holders are told after the callbacks posted so far.

        ``outcome`` None: released, nobody is left to tell. ``here`` False: it ended on
        another replica, whose callbacks ran there.
        """
        self._stop()
        if self._ready is not None:
            self._ready.close()
        items: list[Item] = []
        if here and isinstance(outcome, BaseException):
            items.extend(self._delivery.error(self.job_id, outcome))
        items.append(Record(functools.partial(self._settle, outcome, here)))
        self._post(items)

    def _stop(self) -> None:
        """Out of POLLING (or FOLLOWING) into DELIVERING, and out of the live set."""
        if self.phase is not Phase.DELIVERING:
            self._enter(Phase.DELIVERING)
            self._tracker.ended(self)

    def _readied(self, verdict: Verdict) -> None:
        """Ready mode: the job is usable (its ready events go out first), or it is not."""
        if not self.live:
            return
        if isinstance(verdict, Job):
            self._stop()  # as for any ending: its callbacks see the job no longer watched
            self._post(self._delivery.ready_events(verdict))
        self._end(verdict)

    def _settle(self, outcome: Outcome | None, here: bool) -> None:
        """DELIVERING to SETTLED: its callbacks ran (unless it was closed meanwhile)."""
        if self.phase is not Phase.DELIVERING:
            return
        self._enter(Phase.SETTLED)
        self._tracker.settled(self, outcome, here)
        if outcome is not None:
            self._tell(outcome)

    def _holders(self) -> tuple[Holder, ...]:
        held = self._held
        return () if held is None else held if isinstance(held, tuple) else (held,)

    def _keep(self, holders: tuple[Holder, ...]) -> None:
        self._held = None if not holders else holders[0] if len(holders) == 1 else holders

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.polling = phase is Phase.POLLING

    def _tell(self, outcome: Outcome) -> None:
        for holder in self._holders():
            holder.settle(outcome)

    def _record(self, event: JobEvent) -> None:
        """An event's callbacks returned: it counts as delivered from now on."""
        delivered = self._delivered
        assert delivered is not None  # made when the event was seen, kept until delivered
        delivered.record(event)
        if delivered.job is self._seen.job and delivered.subs == self._seen.subs:
            self._delivered = None  # caught up: nothing on its way
        self._tracker.recorded(self, event)

    def _post(self, items: list[Item]) -> None:
        if self._outbox is None:
            self._outbox = self._delivery.outbox()
        self._outbox.post(items)
        if self._outbox.idle:  # all run already: thousands of quiet watches keep none
            self._outbox = None
