"""JobWatcher: one poll loop per job id, for any number of jobs, under one scheduler.

Each watched job has a due time kept as a timer on the event loop (no task per job and
no scan of all jobs per tick). A due job joins a ready queue, which a pool of at most
``max_concurrency`` worker tasks drains; a worker exists only while there is work, so
a slot is held only while a request is in flight, never while a job sleeps. Callbacks
run in order per job, through a small per-job outbox: plain functions run at once,
and the first coroutine moves the rest of that job's outbox into a task of its own, so
a slow callback delays only its own job.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol

import attrs
from aiolimiter import AsyncLimiter

from ._client import check_id
from ._errors import (
    EvsJobWatchError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
    WatcherClosedError,
    WatchTimeoutError,
)
from ._events import ErrorCallback, EventCallback, JobEvent, diff
from ._handle import JobHandle, Outcome
from ._models import Job, JobStatus
from ._policy import PollPolicy, seconds
from ._stream import EventStream

__all__ = ["JobSource", "JobWatcher", "WatcherStats"]

logger = logging.getLogger("evs_job_watch")

_TRANSIENT = (ServerError, ThrottledError, MalformedResponseError)
_Call = tuple[Callable[..., Any], tuple[Any, ...]]


class JobSource(Protocol):
    """What the watcher polls: ``EvsJobClient`` or anything with the same ``get_job``."""

    async def get_job(self, job_id: str) -> Job: ...


@attrs.frozen
class WatcherStats:
    """What a watcher has done: requests made, transient errors retried, 429s seen."""

    polls: int
    errors: int
    throttled: int
    watching: int
    in_flight: int


class _Watch:
    """The state of one watched job id, shared by all its handles."""

    __slots__ = (
        "courier",
        "delays",
        "ended",
        "errors",
        "handles",
        "interval",
        "job_id",
        "latest",
        "missing_since",
        "outbox",
        "subs",
        "timer",
    )

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.handles: list[JobHandle] = []
        self.latest: Job | None = None
        self.subs: dict[str, JobStatus] | None = None  # sub-job statuses, batches only
        self.interval: float | None = None  # None: the next delay is policy.interval
        self.timer: asyncio.TimerHandle | None = None
        self.errors = 0
        self.delays: Iterator[float] | None = None  # error backoff, while erroring
        self.missing_since: float | None = None
        self.outbox: deque[_Call] | None = None  # callbacks not yet run, in order
        self.courier: asyncio.Task[None] | None = None  # runs the outbox past a coroutine
        self.ended = False


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
    ) -> None:
        if isinstance(max_concurrency, bool) or not (
            isinstance(max_concurrency, int) and max_concurrency > 0
        ):
            raise ValueError("max_concurrency must be a positive integer")
        if rate_limit is not None and not 0 < rate_limit < float("inf"):
            raise ValueError("rate_limit must be a positive number of requests per second")
        self._client = client
        self._policy = policy if policy is not None else PollPolicy()
        self._max_concurrency = max_concurrency
        # A bucket of one request, refilled rate_limit times a second: requests are
        # spaced evenly, so no window of a second ever holds a burst above the rate.
        self._limiter = AsyncLimiter(1, 1.0 / rate_limit) if rate_limit else None
        self._on_status_change = on_status_change
        self._on_complete = on_complete
        self._on_fail = on_fail
        self._on_error = on_error
        self._rng = random.Random()
        self._watches: dict[str, _Watch] = {}
        self._ready: deque[_Watch] = deque()
        self._workers: set[asyncio.Task[None]] = set()
        self._starting = 0
        self._couriers: set[asyncio.Task[None]] = set()
        self._unsettled: set[_Watch] = set()  # ended, waiters not told yet
        self._streams: set[EventStream] = set()
        self._paused_until = 0.0
        self._in_flight = 0
        self._polls = self._errors = self._throttled = 0
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"watching {len(self._watches)} jobs"
        return f"<JobWatcher {state}>"

    async def __aenter__(self) -> JobWatcher:
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
        return self._policy

    @property
    def stats(self) -> WatcherStats:
        """Counters of the watcher's work so far, and what it is doing now."""
        return WatcherStats(
            polls=self._polls,
            errors=self._errors,
            throttled=self._throttled,
            watching=len(self._watches),
            in_flight=self._in_flight,
        )

    def watching(self) -> frozenset[str]:
        """The ids of the jobs being watched now."""
        return frozenset(self._watches)

    # -- the public verbs -------------------------------------------------------------

    def watch(self, job_id: str, *, timeout: float | timedelta | None = None) -> JobHandle:
        """Start watching ``job_id`` (or join its existing watch); returns at once."""
        check_id(job_id)
        limit = _timeout(timeout)
        if self._closed:
            raise WatcherClosedError(job_id)
        watch = self._watches.get(job_id)
        if watch is None:
            watch = self._watches[job_id] = _Watch(job_id)
            self._make_ready(watch)  # the first poll goes out at once
        handle = JobHandle(watch, self._release)
        watch.handles.append(handle)
        if limit is not None:
            handle._timer = asyncio.get_running_loop().call_later(
                limit, self._expire, handle, limit
            )
        return handle

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
        handles = self._watch_all(job_ids)
        limit = _timeout(timeout)
        try:
            if handles:
                await asyncio.wait(
                    [handle._future for handle in handles],
                    timeout=limit,
                    return_when=(
                        asyncio.ALL_COMPLETED if return_exceptions else asyncio.FIRST_EXCEPTION
                    ),
                )
            results: list[Job | BaseException] = []
            for handle in handles:
                future = handle._future
                if not future.done():
                    results.append(WatchTimeoutError(handle.job_id, limit or 0.0))
                elif future.cancelled():
                    results.append(asyncio.CancelledError())
                else:
                    results.append(future.exception() or future.result())
            if not return_exceptions:
                # The first error in job order: a job's own error before a timeout.
                errors = [r for r in results if isinstance(r, BaseException)]
                own = [e for e in errors if not isinstance(e, WatchTimeoutError)]
                if own or errors:
                    raise (own or errors)[0]
            return results
        finally:
            for handle in handles:
                handle.cancel()

    async def as_completed(
        self, job_ids: Iterable[str], *, timeout: float | timedelta | None = None
    ) -> AsyncIterator[Job]:
        """Yield each job's terminal ``Job`` (SUCCESS or FAIL) in the order they end.

        A watch that ends with an error raises it from the iterator; so does the overall
        timeout (``WatchTimeoutError``). Leaving the loop early releases the rest.
        """
        handles = self._watch_all(job_ids)
        limit = _timeout(timeout)
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit
        finished: deque[JobHandle] = deque()
        arrived = asyncio.Event()

        def arrive(handle: JobHandle) -> None:
            finished.append(handle)
            arrived.set()

        for handle in handles:
            handle._future.add_done_callback(lambda _, h=handle: arrive(h))  # type: ignore[misc]
        try:
            for _ in handles:
                while not finished:
                    arrived.clear()
                    remaining = None if deadline is None else deadline - loop.time()
                    try:
                        if remaining is not None and remaining <= 0:
                            raise asyncio.TimeoutError
                        await asyncio.wait_for(arrived.wait(), remaining)
                    except asyncio.TimeoutError:
                        late = next(h for h in handles if not h.done())
                        raise WatchTimeoutError(late.job_id, limit or 0.0) from None
                yield finished.popleft()._terminal_job()
        finally:
            for handle in handles:
                handle.cancel()

    def events(self, *, max_pending: int = 10_000) -> EventStream:
        """Every JobEvent from now on; see ``EventStream`` for the overflow policy."""
        stream = EventStream(max_pending, self._streams.discard)
        if self._closed:
            stream.close()
        else:
            self._streams.add(stream)
        return stream

    async def aclose(self) -> None:
        """End every watch with ``WatcherClosedError`` and stop every task and timer."""
        if self._closed:
            return
        self._closed = True
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
        current = asyncio.current_task()
        tasks = [t for t in (*self._workers, *self._couriers) if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- scheduling ---------------------------------------------------------------------

    def _watch_all(self, job_ids: Iterable[str]) -> list[JobHandle]:
        ids = [check_id(job_id) for job_id in job_ids]  # all checked before any request
        return [self.watch(job_id) for job_id in ids]

    def _schedule(self, watch: _Watch, delay: float) -> None:
        watch.timer = asyncio.get_running_loop().call_later(delay, self._make_ready, watch)

    def _make_ready(self, watch: _Watch) -> None:
        watch.timer = None
        self._ready.append(watch)
        self._start_worker()

    def _start_worker(self) -> None:
        # One worker starts at a time; each one that finds more work starts the next, so
        # a burst of due jobs fans out to max_concurrency workers in as many loop steps.
        if self._ready and not self._starting and len(self._workers) < self._max_concurrency:
            self._starting = 1
            task = asyncio.get_running_loop().create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        self._starting = 0
        ready = self._ready
        while ready:
            watch = ready.popleft()
            self._start_worker()
            if not watch.ended:
                await self._poll(watch)

    async def _poll(self, watch: _Watch) -> None:
        loop = asyncio.get_running_loop()
        pause = self._paused_until - loop.time()
        if pause > 0:
            # The API throttled us: come back after the pause, spread over its length so
            # the whole fleet of jobs does not return in the same instant.
            self._schedule(watch, pause + pause * self._rng.random())
            return
        if self._limiter is not None:
            await self._limiter.acquire()
            if watch.ended:
                return
        self._in_flight += 1
        self._polls += 1
        try:
            job = await self._client.get_job(watch.job_id)
        except EvsJobWatchError as exc:
            if not watch.ended:
                self._on_error_answer(watch, exc, loop.time())
            return
        except Exception as exc:  # a bug or a foreign client: end this watch, not the worker
            logger.exception("polling job %s failed unexpectedly", watch.job_id)
            if not watch.ended:
                self._end(watch, exc)
            return
        finally:
            self._in_flight -= 1
        if not watch.ended:
            self._on_answer(watch, job)

    def _on_answer(self, watch: _Watch, job: Job) -> None:
        watch.errors = 0
        watch.delays = None
        watch.missing_since = None
        previous = watch.latest
        events = diff(None if previous is None else previous.status, watch.subs or {}, job)
        watch.latest = job
        if events:
            for event in events:
                if event.parent is not None:
                    if watch.subs is None:
                        watch.subs = {}
                    watch.subs[event.job_id] = event.status
            self._emit(watch, events)
        if job.status.is_terminal:
            self._end(watch, job)
            return
        # Any change, a sub-job's included, means the job is moving: look again soon.
        watch.interval = self._policy.next_interval(None if events else watch.interval)
        self._schedule(watch, self._policy.spread(watch.interval, self._rng))

    def _on_error_answer(self, watch: _Watch, error: EvsJobWatchError, now: float) -> None:
        policy = self._policy
        if isinstance(error, JobNotFoundError):
            if watch.missing_since is None:
                watch.missing_since = now
            left = watch.missing_since + policy.not_found_grace - now
            if left <= 0:
                self._end(watch, error)
            else:
                self._schedule(watch, min(policy.spread(policy.interval, self._rng), left))
            return
        if not isinstance(error, _TRANSIENT):
            self._end(watch, error)  # authentication and other API refusals are final
            return
        self._errors += 1
        watch.errors += 1
        if watch.errors >= policy.max_consecutive_errors:
            self._end(watch, error)
            return
        if watch.delays is None:
            watch.delays = policy.error_delays()
        delay = next(watch.delays)
        if isinstance(error, ThrottledError):
            if error.retry_after is not None:
                delay = max(delay, error.retry_after)
            # A 429 is about the account, not the job: every job waits it out.
            self._throttled += 1
            self._paused_until = max(self._paused_until, now + delay)
        self._schedule(watch, delay)

    # -- endings --------------------------------------------------------------------------

    def _end(self, watch: _Watch, outcome: Outcome, *, notify: bool = True) -> None:
        """End a watch once: stop its polling, then settle its handles after its callbacks."""
        if watch.ended:
            return
        watch.ended = True
        if watch.timer is not None:
            watch.timer.cancel()
            watch.timer = None
        if self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]
        calls: list[_Call] = []
        if notify and self._on_error is not None and not isinstance(outcome, Job):
            calls.append((self._on_error, (watch.job_id, outcome)))
        calls.append((self._settle, (watch, outcome)))
        self._unsettled.add(watch)
        self._post(watch, calls)

    def _release(self, handle: JobHandle) -> None:
        watch = handle._watch
        if handle in watch.handles:
            watch.handles.remove(handle)
        if not watch.handles and not watch.ended:
            self._end(watch, asyncio.CancelledError(), notify=False)

    def _expire(self, handle: JobHandle, limit: float) -> None:
        handle._timer = None
        watch = handle._watch
        error = WatchTimeoutError(watch.job_id, limit)
        if watch.handles == [handle]:
            self._end(watch, error)  # the last holder timed out: the watch ends with it
        else:
            handle._settle(error)

    def _settle(self, watch: _Watch, outcome: Outcome) -> None:
        self._unsettled.discard(watch)
        if isinstance(outcome, asyncio.CancelledError):
            return  # released by its handles: none is left to tell
        for handle in list(watch.handles):
            handle._settle(outcome)

    # -- delivery -------------------------------------------------------------------------

    def _emit(self, watch: _Watch, events: list[JobEvent]) -> None:
        for stream in self._streams:
            stream._put(events)
        calls: list[_Call] = []
        for event in events:
            if self._on_status_change is not None:
                calls.append((self._on_status_change, (event,)))
            status = event.status
            if status is JobStatus.SUCCESS and self._on_complete is not None:
                calls.append((self._on_complete, (event,)))
            elif status is JobStatus.FAIL and self._on_fail is not None:
                calls.append((self._on_fail, (event,)))
        if calls:
            self._post(watch, calls)

    def _post(self, watch: _Watch, calls: list[_Call]) -> None:
        if watch.outbox is None:
            watch.outbox = deque(calls)
        else:
            watch.outbox.extend(calls)
            return  # a run of this outbox is under way (a courier, or a caller up the stack)
        self._run_outbox(watch)

    def _run_outbox(self, watch: _Watch) -> None:
        outbox = watch.outbox
        while outbox:
            function, args = outbox.popleft()
            pending = _call(function, args)
            if pending is not None:
                task = asyncio.get_running_loop().create_task(self._courier(watch, pending))
                watch.courier = task
                self._couriers.add(task)
                task.add_done_callback(self._couriers.discard)
                return
        watch.outbox = None

    async def _courier(self, watch: _Watch, pending: Awaitable[object]) -> None:
        outbox = watch.outbox
        try:
            await _guarded(pending)
            # The outbox is dropped when the watcher closes (maybe by this very callback).
            while outbox and watch.outbox is outbox:
                function, args = outbox.popleft()
                result = _call(function, args)
                if result is not None:
                    await _guarded(result)
            if watch.outbox is outbox:
                watch.outbox = None
        finally:
            watch.courier = None


def _call(function: Callable[..., Any], args: tuple[Any, ...]) -> Awaitable[object] | None:
    """Run a callback; return its awaitable if it made one. Errors are logged, not raised."""
    try:
        result = function(*args)
    except Exception:
        logger.exception("callback %r raised", function)
        return None
    return result if inspect.isawaitable(result) else None


async def _guarded(awaitable: Awaitable[object]) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("callback coroutine %r raised", awaitable)


def _timeout(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    limit = seconds(value)
    if not 0 < limit < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {limit}")
    return limit
