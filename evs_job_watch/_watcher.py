"""JobWatcher: the public face of watching; one watch per job id, under one Poller.

What a poll means lives here (events, endings, handles, snapshots); when to poll lives
in ``_poller.py``; callbacks run in order per job through ``_outbox.Dispatcher``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from . import _snapshot
from ._client import check_id
from ._errors import (
    WatcherClosedError,
    WatchTimeoutError,
)
from ._events import ErrorCallback, EventCallback, JobEvent, diff
from ._fanout import completed, gather
from ._handle import JobHandle, Outcome
from ._models import Job, JobStatus
from ._outbox import Call, Dispatcher
from ._policy import PollPolicy, seconds
from ._poller import JobSource, Poller
from ._stream import EventStream
from ._watch import Watch

__all__ = ["JobSource", "JobWatcher", "WatcherStats"]

logger = logging.getLogger("evs_job_watch")


@attrs.frozen
class WatcherStats:
    """What a watcher has done: requests made, transient errors retried, 429s seen."""

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
        rate_limit: the most requests per second, spread evenly; None for no limit.
        on_status_change: called with a JobEvent for every status change seen (the
            first sight included) of a job or sub-job.
        on_complete: called once when a job or sub-job reaches SUCCESS.
        on_fail: called once when a job or sub-job reaches FAIL.
        on_error: called with ``(job_id, error)`` when a watch ends with an error.
        resume: a ``snapshot()`` of an earlier watcher, resumed on ``async with``.
        state_path: a file kept up to date with the snapshot after every delivered
            event batch, from ``async with`` on (resumed from there when ``resume`` is
            not given; a file that cannot be read is refused and never overwritten).
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
    ) -> None:
        if isinstance(max_concurrency, bool) or not (
            isinstance(max_concurrency, int) and max_concurrency > 0
        ):
            raise ValueError("max_concurrency must be a positive integer")
        if rate_limit is not None and not 0 < rate_limit < float("inf"):
            raise ValueError("rate_limit must be a positive number of requests per second")
        policy = policy if policy is not None else PollPolicy()
        self._poller = Poller(
            client, policy, max_concurrency, rate_limit, self._on_answer, self._end
        )
        self._on_status_change = on_status_change
        self._on_complete = on_complete
        self._on_fail = on_fail
        self._on_error = on_error
        self._resume = resume
        self._state = (
            None if state_path is None else _snapshot.StateFile(Path(state_path), self.snapshot)
        )
        self._watches: dict[str, Watch] = {}
        self._dispatcher = Dispatcher()
        self._unsettled: set[Watch] = set()  # ended, waiters not told yet
        self._streams: set[EventStream] = set()
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"watching {len(self._watches)} jobs"
        return f"<JobWatcher {state}>"

    async def __aenter__(self) -> JobWatcher:
        if self._resume is not None:
            self.resume(self._resume)
        elif self._state is not None:
            saved = self._state.load()
            if saved is not None:
                self._restore(*saved)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def policy(self) -> PollPolicy:
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

    def watch(self, job_id: str, *, timeout: float | timedelta | None = None) -> JobHandle:
        """Start watching ``job_id`` (or join its existing watch); returns at once."""
        check_id(job_id)
        return self._hold(job_id, _timeout(timeout))

    async def wait(self, job_id: str, *, timeout: float | timedelta | None = None) -> Job:
        """Watch ``job_id`` until it ends: the job on SUCCESS, ``JobFailedError`` on FAIL."""
        return await self.watch(job_id, timeout=timeout)

    async def wait_all(
        self,
        job_ids: Iterable[str],
        *,
        timeout: float | timedelta | None = None,
        return_exceptions: bool = False,
    ) -> list[Job | BaseException]:
        """Wait for every job, under one overall timeout; results in the order of ``job_ids``.

        Like ``asyncio.gather``: the first error is raised unless ``return_exceptions``,
        in which case errors take their job's place. Jobs still unfinished when this
        returns or raises are released (their polling stops unless another handle holds
        them).
        """
        limit = _timeout(timeout)
        return await gather(self._watch_all(job_ids), limit, return_exceptions)

    def as_completed(
        self, job_ids: Iterable[str], *, timeout: float | timedelta | None = None
    ) -> AsyncIterator[Job]:
        """Yield each job's terminal ``Job`` (SUCCESS or FAIL) in the order they end.

        A watch that ends with an error raises it from the iterator; so does the overall
        timeout (``WatchTimeoutError``). Leaving the loop early releases the rest.
        """
        limit = _timeout(timeout)
        return completed(self._watch_all(job_ids), limit)

    def events(self, *, max_pending: int = 10_000) -> EventStream:
        """Every JobEvent from now on; see ``EventStream`` for the overflow policy."""
        stream = EventStream(max_pending, self._streams.discard)
        if self._closed:
            stream.close()
        else:
            self._streams.add(stream)
        return stream

    def snapshot(self) -> dict[str, Any]:
        """Every live watch as plain, versioned JSON data, for ``resume`` after a restart.

        Only delivered events count: a watch whose events are still being delivered is
        kept as it was before them, so they are delivered again after a restart rather
        than lost. The time left to each watch's deadline is kept too.
        """
        now = asyncio.get_running_loop().time()
        saved = [
            _snapshot.SavedWatch(
                job_id=watch.job_id,
                status=watch.delivered,
                sub_jobs=watch.delivered_subs or {},
                timeout=_time_left(watch, now),
            )
            for watch in (*self._watches.values(), *self._unsettled)
            if not (watch.delivered is not None and watch.delivered.is_terminal)
            and (not watch.ended or (watch.latest is not None and watch.latest.is_terminal))
        ]
        return _snapshot.dump(saved)

    def resume(self, snapshot: Mapping[str, Any]) -> list[JobHandle]:
        """Resume the watches of a ``snapshot()``; their handles, in snapshot order.

        Events fire only for changes since the snapshot. A deadline keeps the time it had
        left, less the time since the snapshot, and at least one interval, so that a job
        that ended meanwhile is still reported. Raises ValueError for a broken snapshot.
        """
        return self._restore(*_snapshot.parse(snapshot))

    async def aclose(self) -> None:
        """End every watch with ``WatcherClosedError`` and stop every task and timer.

        With a ``state_path``, the live watches are saved first, for the next start.
        """
        if self._closed:
            return
        self._closed = True  # from here, no new watch (a second aclose returns at once)
        if self._state is not None:
            await self._state.close()
        # Live watches, and ended ones whose waiters still wait for their callbacks.
        closing = [*self._watches.values(), *self._unsettled]
        self._watches.clear()
        self._unsettled.clear()
        for watch in closing:
            watch.ended = True
            watch.outbox = None  # callbacks not yet run are dropped with the watcher
            if watch.timer is not None:
                watch.timer.cancel()
                watch.timer = None
            self._settle(watch, WatcherClosedError(watch.job_id))
        for stream in list(self._streams):
            stream.close()
        # Every task but the caller's own (aclose may be called from a callback).
        current = asyncio.current_task()
        running = (*self._poller.close(), *self._dispatcher.tasks())
        tasks = [task for task in running if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- watches and handles ------------------------------------------------------------

    def _watch_all(self, job_ids: Iterable[str]) -> list[JobHandle]:
        ids = [check_id(job_id) for job_id in job_ids]  # all checked before any request
        return [self._hold(job_id, None) for job_id in ids]

    def _hold(self, job_id: str, limit: float | None, fresh: Watch | None = None) -> JobHandle:
        if self._closed:
            raise WatcherClosedError(job_id)
        watch = self._watches.get(job_id)
        if watch is None:
            watch = self._watches[job_id] = fresh or Watch(job_id)
            self._poller.make_ready(watch)  # the first poll goes out at once
            self._state_changed()
        handle = JobHandle(watch, self._release)
        watch.handles.append(handle)
        if limit is not None:
            handle._timer = asyncio.get_running_loop().call_later(
                limit, self._expire, handle, limit
            )
        return handle

    def _restore(self, taken_at: float, saved: list[_snapshot.SavedWatch]) -> list[JobHandle]:
        elapsed = max(time.time() - taken_at, 0.0)
        handles = []
        for item in saved:
            limit = None
            if item.timeout is not None:
                limit = max(item.timeout - elapsed, self._poller.policy.interval)
            subs = dict(item.sub_jobs) if item.sub_jobs else None
            handles.append(self._hold(item.job_id, limit, Watch(item.job_id, item.status, subs)))
        return handles

    def _release(self, handle: JobHandle) -> None:
        watch = handle._watch
        if handle in watch.handles:
            watch.handles.remove(handle)
        if not watch.handles and not watch.ended:
            self._end(watch, asyncio.CancelledError(), False)

    def _expire(self, handle: JobHandle, limit: float) -> None:
        handle._timer = None
        watch = handle._watch
        error = WatchTimeoutError(watch.job_id, limit)
        if watch.handles == [handle]:
            self._end(watch, error)  # the last holder timed out: the watch ends with it
        else:
            handle._settle(error)

    def _on_answer(self, watch: Watch, job: Job) -> bool:
        """Record an answer, fire its events, end the watch if the job ended."""
        watch.latest = job
        events = diff(watch.seen, watch.subs or {}, job)
        for event in events:
            if event.parent is None:
                watch.seen = event.status
            else:
                if watch.subs is None:
                    watch.subs = {}
                watch.subs[event.job_id] = event.status
        if events:
            self._emit(watch, events)
        if job.status.is_terminal:
            self._end(watch, job)
        return bool(events)

    # -- endings and delivery -------------------------------------------------------------

    def _end(self, watch: Watch, outcome: Outcome, notify: bool = True) -> None:
        """End a watch once: stop its polling, then settle its handles after its callbacks."""
        if watch.ended:
            return
        watch.ended = True
        if watch.timer is not None:
            watch.timer.cancel()
            watch.timer = None
        if self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]
        calls: list[Call] = []
        if notify and self._on_error is not None and not isinstance(outcome, Job):
            calls.append((self._on_error, (watch.job_id, outcome)))
        calls.append((self._settle, (watch, outcome)))
        self._unsettled.add(watch)
        self._dispatcher.post(watch, calls)

    def _settle(self, watch: Watch, outcome: Outcome) -> None:
        self._unsettled.discard(watch)
        self._state_changed()
        if isinstance(outcome, asyncio.CancelledError):
            return  # released by its handles: none is left to tell
        for handle in list(watch.handles):
            handle._settle(outcome)

    def _emit(self, watch: Watch, events: list[JobEvent]) -> None:
        for stream in self._streams:
            stream._put(events)
        calls: list[Call] = []
        for event in events:
            if self._on_status_change is not None:
                calls.append((self._on_status_change, (event,)))
            status = event.status
            if status is JobStatus.SUCCESS and self._on_complete is not None:
                calls.append((self._on_complete, (event,)))
            elif status is JobStatus.FAIL and self._on_fail is not None:
                calls.append((self._on_fail, (event,)))
            calls.append((self._delivered, (watch, event)))
        self._dispatcher.post(watch, calls)

    def _delivered(self, watch: Watch, event: JobEvent) -> None:
        if event.parent is None:
            watch.delivered = event.status
        else:
            if watch.delivered_subs is None:
                watch.delivered_subs = {}
            watch.delivered_subs[event.job_id] = event.status
        self._state_changed()

    def _state_changed(self) -> None:
        if self._state is not None and not self._closed:
            self._state.changed()


def _time_left(watch: Watch, now: float) -> float | None:
    """Seconds until the last of the watch's deadlines; None if any holder has none."""
    timers = [handle._timer for handle in watch.handles]
    if not timers or any(timer is None for timer in timers):
        return None
    return max(0.0, max(timer.when() for timer in timers if timer is not None) - now)


def _timeout(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    limit = seconds(value)
    if not 0 < limit < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {limit}")
    return limit
