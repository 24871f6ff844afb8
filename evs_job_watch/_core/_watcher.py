"""JobWatcher: the public face of watching; one watch per job id, under one Poller.

It builds the parts and hands work down: a watch's life is ``_watch.Watch``'s, when to
poll is ``_poller``'s (deciding through ``_schedule``, pacing through ``_pacer``),
callbacks run in order per job through ``_delivery`` and ``_outbox``, and the watch set
is kept by a store (``_store``: local by default, or shared by replicas). The map of
the modules and the path of one poll are in ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, overload

import attrs

from .._errors import WatcherClosedError
from .._models import Job
from .._policy import PollPolicy
from .._validate import check_id, optional_seconds, positive_int, positive_number
from . import _snapshot
from ._delivery import Delivery
from ._events import ErrorCallback, EventCallback, Statuses
from ._fanout import CompletedJobs, gather
from ._fleet import FleetSide
from ._handle import JobHandle
from ._hints import disk_reads
from ._learn import DurationModel
from ._pacer import Pacer
from ._poller import Poller
from ._snapshot import Snapshot
from ._source import JobSource
from ._store import LocalStore, Store, state_file
from ._stream import EventStream
from ._tasks import TaskGroup
from ._watch import Phase, Watch
from ._watchset import WatchSet

__all__ = ["JobSource", "JobWatcher", "WatcherStats"]

logger = logging.getLogger("evs_job_watch")


@attrs.frozen
class WatcherStats:
    """What a watcher has done and is doing.

    Attributes:
        polls: requests sent.
        errors: transient errors (5xx, 429, connection failures, malformed bodies).
        throttled: 429 answers among them.
        watching: jobs being watched now.
        in_flight: requests under way now.
    """

    polls: int
    errors: int
    throttled: int
    watching: int
    in_flight: int


class JobWatcher:
    """Watches many EVS jobs at once, with waiters, callbacks and an event stream.

    Args:
        client: an ``EvsJobClient`` (or any object with its ``get_job``).
        policy: the poll intervals and error tolerance.
        max_concurrency: the most requests in flight at once.
        rate_limit: the most requests per second, spread evenly; None for no limit. With
            a shared store, the limit of the whole fleet (give every replica the same).
        on_status_change: called with a JobEvent for every status change seen (the
            first sight included) of a job or sub-job.
        on_complete: called once when a job or sub-job reaches SUCCESS.
        on_fail: called once when a job or sub-job reaches FAIL.
        on_error: called with ``(job_id, error)`` when a watch ends with an error.
        resume: a ``snapshot()`` of an earlier watcher, resumed on ``async with``. Not
            with a state file (``ValueError``): the file is itself resumed from.
        state_path: a file kept up to date with the snapshot after every delivered
            event batch, from ``async with`` on, and resumed from there (a file that
            cannot be read is refused and never overwritten). Its directory must exist
            (``ValueError``). Short for ``store=LocalStore(state_path)``.
        store: where the watch set is kept: a ``LocalStore`` (the default), or a store
            shared by the replicas of a service (``evs_job_watch.redis.RedisStore``).
        rng: the random generator that spreads polls (``PollPolicy.jitter``); a seeded
            ``random.Random`` makes every delay repeatable, as in tests.
        ready: ready mode for every watch (``watch(..., ready=)`` sets it per job): a job
            is complete only once what it made is usable (its disks read ``available``
            or ``in-use``, a deleted disk is gone, an ECS attach reads SUCCESS twice and
            the disk is attached); its disks are read in listings of 60, paced like
            the polls. The client must have ``list_volumes`` (``docs/ready.md``).
        hints: a running job's disks are read in those listings too; one that leaves
            ``creating`` (``extending``, ...) brings the job's next poll forward. A hint
            never ends a job. The client must have ``list_volumes`` (``docs/ready.md``).

    With a state file or a shared store, the watcher must be entered (``async with``)
    before it watches anything (``RuntimeError`` otherwise): the store is opened there.
    """

    def __init__(
        self,
        client: JobSource,
        *,
        policy: PollPolicy | None = None,
        max_concurrency: int = 64,
        rate_limit: float | None = None,
        on_status_change: EventCallback | None = None,
        on_complete: EventCallback | None = None,
        on_fail: EventCallback | None = None,
        on_error: ErrorCallback | None = None,
        resume: Mapping[str, Any] | None = None,
        state_path: str | os.PathLike[str] | None = None,
        store: Store | None = None,
        rng: random.Random | None = None,
        ready: bool = False,
        hints: bool = False,
    ) -> None:
        positive_int(max_concurrency, "max_concurrency")
        if rate_limit is not None:
            rate_limit = positive_number(rate_limit, "rate_limit", "requests per second")
        if store is not None and state_path is not None:
            raise ValueError("give either store or state_path, not both")
        if state_path is not None:
            store = LocalStore(state_file(state_path, "state_path"))
        store = store if store is not None else LocalStore()
        # A state file or a shared store must be opened (``async with``) before any watch.
        self._must_open = store.shared or (isinstance(store, LocalStore) and bool(store.path))
        if resume is not None and self._must_open and not store.shared:
            raise ValueError(
                "give either resume or state_path (a LocalStore with a path), not both: "
                "the state file is resumed from on start and kept from then on"
            )
        policy = policy if policy is not None else PollPolicy()
        self._store = store
        pacer = Pacer(rate_limit, self._store.pace(rate_limit))
        tasks = self._tasks = TaskGroup()  # every background task of this watcher, and its store's
        rng = rng if rng is not None else random.Random()
        self._poller = Poller(
            client, policy, max_concurrency, pacer, store, DurationModel(), rng, tasks
        )
        self._delivery = Delivery(on_status_change, on_complete, on_fail, on_error, tasks)
        self._watches = WatchSet(self._store)
        self._disks = disk_reads(client, pacer, self._poller, tasks, hints)
        self._fleet = FleetSide(
            self._watches, self._delivery, self._poller, pacer, self.snapshot, tasks, self._disks
        )
        self._ready = self._check_ready(ready)
        self._resume = resume
        self._entered = False
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"watching {len(self._watches)} jobs"
        return f"<JobWatcher {state}>"

    async def __aenter__(self) -> JobWatcher:
        store = self._store
        self._entered = True
        saved = await store.open(self._fleet)
        if saved is not None:
            self._restore(*saved)
        if store.shared:
            self._fleet.start_claiming(store)
        if self._resume is not None:
            self.resume(self._resume)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def store(self) -> Store:
        """Where the watch set is kept."""
        return self._store

    @property
    def policy(self) -> PollPolicy:
        """The poll policy in force."""
        return self._poller.policy

    @property
    def stats(self) -> WatcherStats:
        """Counters of the watcher's work so far, and what it is doing now."""
        poller = self._poller
        return WatcherStats(
            polls=poller.polls,
            errors=poller.errors,
            throttled=poller.throttled,
            watching=len(self._watches),
            in_flight=poller.in_flight,
        )

    def watching(self) -> frozenset[str]:
        """The ids of the jobs being watched now."""
        return frozenset(self._watches)

    # -- the public verbs -------------------------------------------------------------

    def watch(
        self,
        job_id: str,
        *,
        timeout: float | timedelta | None = None,
        ready: bool | None = None,
    ) -> JobHandle:
        """Start watching ``job_id`` (or join its existing watch); returns at once.

        ``ready``: ready mode for this job (None: the watcher's setting); a watch shared
        by several handles is in ready mode once any of them asks for it.
        """
        check_id(job_id)
        return self._hold(
            job_id, optional_seconds(timeout, "timeout"), ready=self._check_ready(ready)
        )

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | timedelta | None = None,
        ready: bool | None = None,
    ) -> Job:
        """Watch ``job_id`` until it ends: the job on SUCCESS, ``JobFailedError`` on FAIL
        (in ready mode, once usable; ``VolumeFailedError`` if a disk reads error*)."""
        return await self.watch(job_id, timeout=timeout, ready=ready)

    @overload
    async def wait_all(
        self,
        job_ids: Iterable[str],
        *,
        timeout: float | timedelta | None = None,
        return_exceptions: Literal[False] = False,
    ) -> list[Job]: ...

    @overload
    async def wait_all(
        self,
        job_ids: Iterable[str],
        *,
        timeout: float | timedelta | None = None,
        return_exceptions: bool,
    ) -> list[Job | BaseException]: ...

    async def wait_all(
        self,
        job_ids: Iterable[str],
        *,
        timeout: float | timedelta | None = None,
        return_exceptions: bool = False,
    ) -> list[Job] | list[Job | BaseException]:
        """Wait for every job, under one overall timeout; results in the order of ``job_ids``.

        Like ``asyncio.gather``: the first error is raised unless ``return_exceptions``,
        in which case errors take their job's place. Jobs still unfinished when this
        returns or raises are released (their polling stops unless another handle holds
        them). A bare string is refused (``TypeError``): pass a list of ids.
        """
        limit = optional_seconds(timeout, "timeout")
        return await gather(self._watch_all(job_ids), limit, return_exceptions)

    def as_completed(
        self, job_ids: Iterable[str], *, timeout: float | timedelta | None = None
    ) -> CompletedJobs:
        """Yield each job's terminal ``Job`` (SUCCESS or FAIL) in the order they end.

        A watch that ends with an error raises it from the iterator; so does the overall
        timeout (``WatchTimeoutError``). To leave the loop early, iterate inside
        ``async with watcher.as_completed(...) as jobs:``: leaving the block releases the
        rest (a bare ``break`` releases them only once the iterator is collected). A
        bare string is refused (``TypeError``): pass a list of ids.
        """
        limit = optional_seconds(timeout, "timeout")
        return CompletedJobs(self._watch_all(job_ids), limit)

    def events(self, *, max_pending: int = 10_000) -> EventStream:
        """Every JobEvent from now on; see ``EventStream`` for the overflow policy."""
        streams = self._delivery.streams
        stream = EventStream(max_pending, streams.discard)
        if self._closed:
            stream.close()
        else:
            streams.add(stream)
            self._store.listening()  # a shared store hears the fleet's events from now
        return stream

    def snapshot(self) -> Snapshot:
        """Every live watch as plain, versioned JSON data, for ``resume`` after a restart.

        Only delivered events count: a watch whose events are still being delivered is
        kept as it was before them, so they are delivered again after a restart rather
        than lost. The time left to each watch's deadline is kept too, and the durations
        learned of each job type, so the poll schedule needs no new history.
        """
        watches = self._watches.saved(asyncio.get_running_loop().time())
        return _snapshot.dump(watches, self._poller.history())

    def resume(self, snapshot: Mapping[str, Any]) -> list[JobHandle]:
        """Resume the watches of a ``snapshot()``; their handles, in snapshot order.

        Events fire only for changes since the snapshot. A deadline keeps the time it had
        left, less the time since the snapshot, and at least one interval, so that a job
        that ended meanwhile is still reported. Raises ValueError for a broken snapshot.
        """
        return self._restore(*_snapshot.parse(snapshot), _snapshot.learned(snapshot))

    async def aclose(self) -> None:
        """End every watch with ``WatcherClosedError`` and stop every task and timer.

        With a ``state_path``, the live watches are saved first, for the next start; with
        a shared store, this replica's leases are handed back to the fleet.
        """
        if self._closed:
            return
        self._closed = True  # from here, no new watch (a second aclose returns at once)
        owned = self._poller.owned(self._watches.live())
        if self._store.shared:
            for watch, _ in owned:
                watch.yielded()  # no request goes out for a watch handed back
        try:
            await self._fleet.stop_claiming()  # no claim under way as the store closes
            await self._store.close(owned)
        finally:
            for watch in self._watches.close():
                watch.closed()
            self._poller.close()
            self._delivery.close()
            # Every background task, the store's too, however its close ended; all but the
            # caller's own (it may be a courier).
            await self._tasks.aclose()

    # -- watches and handles ------------------------------------------------------------

    def _watch_all(self, job_ids: Iterable[str]) -> list[JobHandle]:
        if isinstance(job_ids, (str, bytes)):
            raise TypeError("job_ids must be an iterable of job ids, not a single string")
        ids = [check_id(job_id) for job_id in job_ids]  # all checked before any request
        return [self._hold(job_id, None, ready=self._ready) for job_id in ids]

    def _check_ready(self, ready: bool | None) -> bool:
        """Ready mode asked for (None: the watcher's), if this watcher can do it."""
        if ready is None:
            return self._ready
        if ready and self._disks is None:
            raise TypeError("ready mode needs a client that reads disks (list_volumes)")
        return bool(ready)

    def _hold(
        self, job_id: str, limit: float | None, known: Statuses | None = None, ready: bool = False
    ) -> JobHandle:
        if self._closed:
            raise WatcherClosedError(job_id)
        if self._must_open and not self._entered:
            what = "a shared store" if self._store.shared else "a state file"
            raise RuntimeError(
                f"a watcher with {what} must be entered (`async with JobWatcher(...)`) "
                "before it watches: its store is opened there"
            )
        disks = self._disks if ready else None
        watch = self._watches.get(job_id)
        if watch is None:
            phase = Phase.FOLLOWING if self._store.shared else Phase.POLLING  # fleet's, else
            watch = Watch(job_id, self._watches, self._delivery, known, phase)
            self._watches.add(watch)
            if watch.polling:
                self._poller.schedule(watch, 0.0)  # the first poll goes out at once
        handle = JobHandle(watch, limit)  # held first: the store hears of the watch first
        if disks is not None:  # then of its ready mode (the fleet's watch may be older)
            watch.make_ready(disks)
        return handle

    def _restore(
        self, taken_at: float, saved: list[_snapshot.SavedWatch], learned: _snapshot.Learned
    ) -> list[JobHandle]:
        self._poller.relearn(learned)  # the poll schedule picks up where it was
        elapsed = max(time.time() - taken_at, 0.0)
        handles = []
        for item in saved:
            limit = None
            if item.timeout is not None:
                limit = max(item.timeout - elapsed, self._poller.policy.interval)
            known = Statuses(item.status, item.sub_jobs)
            ready = item.ready and self._disks is not None  # its ready phase goes on
            handles.append(self._hold(item.job_id, limit, known, ready))
        if handles:
            logger.info("resumed %d watches from a snapshot", len(handles))
        return handles
