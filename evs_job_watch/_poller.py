"""Poller: when each watched job is polled, by whom, and what errors do to that.

Each job has a due time kept as a timer on the event loop (no task per job and no scan
of all jobs per tick). A due job joins a ready queue, which at most ``max_concurrency``
worker tasks drain; a worker exists only while there is work, so a slot is held only
while a request is in flight, never while a job sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from aiolimiter import AsyncLimiter

from ._errors import (
    EvsJobWatchError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
)
from ._governor import Governor
from ._learn import DurationModel
from ._models import Job
from ._policy import PollPolicy
from ._watch import Watch

__all__ = ["JobSource", "Poller"]

logger = logging.getLogger("evs_job_watch")

_TRANSIENT = (ServerError, ThrottledError, MalformedResponseError)
_NOW = 0.001  # seconds: a delay shorter than this is not waited for


class JobSource(Protocol):
    """What the watcher polls: ``EvsJobClient`` or anything with the same ``get_job``."""

    async def get_job(self, job_id: str) -> Job: ...


class Poller:
    """Polls watches on their schedule and hands each answer or final error over.

    Args:
        on_answer: called with each answer; returns whether anything changed (the
            interval then starts over). The watch may end inside it.
        on_final_error: called when an error ends a watch (budget spent, refusal,
            not found after the grace period, or an unexpected exception).
    """

    def __init__(
        self,
        client: JobSource,
        policy: PollPolicy,
        max_concurrency: int,
        rate_limit: float | None,
        on_answer: Callable[[Watch, Job], bool],
        on_final_error: Callable[[Watch, BaseException], None],
    ) -> None:
        self.policy = policy
        self._client = client
        self._max_concurrency = max_concurrency
        # A bucket of one request, refilled rate_limit times a second: requests are
        # spaced evenly, so no window of a second ever holds a burst above the rate.
        self._limiter = AsyncLimiter(1, 1.0 / rate_limit) if rate_limit else None
        self._on_answer = on_answer
        self._on_final_error = on_final_error
        self._rng = random.Random()
        self._ready: deque[Watch] = deque()
        self._soon: list[Watch] = []  # due now, joining the ready queue at the next turn
        self._workers: set[asyncio.Task[None]] = set()
        self._starting = False
        self._closed = False
        self._paused_until = 0.0
        self._governor = Governor(policy.interval)
        self._durations = DurationModel()
        self.in_flight = 0
        self.polls = self.errors = self.throttled = 0

    def close(self) -> set[asyncio.Task[None]]:
        """Poll nothing more; returns the workers still running, for the caller to end."""
        self._closed = True
        self._ready.clear()
        self._soon.clear()
        return set(self._workers)

    def schedule(self, watch: Watch, delay: float) -> None:
        if delay < _NOW:
            # Not worth a timer: back in line at the next turn of the loop, all such
            # watches with one callback (a client that answers without waiting must
            # still let the loop run, so never straight back into the ready queue).
            self._soon.append(watch)
            if len(self._soon) == 1:
                asyncio.get_running_loop().call_soon(self._line_up)
            return
        watch.timer = asyncio.get_running_loop().call_later(delay, self.make_ready, watch)

    def _line_up(self) -> None:
        self._ready.extend(self._soon)
        self._soon.clear()
        self._start_worker()

    def make_ready(self, watch: Watch) -> None:
        """Poll ``watch`` as soon as a slot is free."""
        watch.timer = None
        self._ready.append(watch)
        self._start_worker()

    def _start_worker(self) -> None:
        # One worker starts at a time; each one that finds more work starts the next, so
        # a burst of due jobs fans out to max_concurrency workers in as many loop steps.
        if (
            self._ready
            and not self._starting
            and not self._closed
            and len(self._workers) < self._max_concurrency
        ):
            self._starting = True
            task = asyncio.get_running_loop().create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        self._starting = False
        ready = self._ready
        while ready:
            watch = ready.popleft()
            self._start_worker()
            if not watch.ended:
                await self._poll(watch)

    async def _poll(self, watch: Watch) -> None:
        loop = asyncio.get_running_loop()
        pause = self._paused_until - loop.time()
        if pause > 0:
            # The API throttled us: come back after the pause, spread over its length so
            # the whole fleet of jobs does not return in the same instant.
            self.schedule(watch, pause + pause * self._rng.random())
            return
        wait = self._governor.delay(loop.time())
        if wait > 0:  # paced after a 429
            await asyncio.sleep(wait)
            if watch.ended:
                return
        if self._limiter is not None:
            await self._limiter.acquire()
            if watch.ended:
                return
        self.in_flight += 1
        self.polls += 1
        try:
            job = await self._client.get_job(watch.job_id)
        except EvsJobWatchError as exc:
            if not watch.ended:
                self._failed(watch, exc, loop.time())
            return
        except Exception as exc:  # a bug or a foreign client: end this watch, not the worker
            logger.exception("polling job %s failed unexpectedly", watch.job_id)
            if not watch.ended:
                self._on_final_error(watch, exc)
            return
        finally:
            self.in_flight -= 1
        if watch.ended:
            return
        self._governor.answered(loop.time())
        watch.errors = 0
        watch.delays = None
        watch.missing_since = None
        changed = self._on_answer(watch, job)
        if job.status.is_terminal:
            self._durations.observe(job)
        elif not watch.ended:
            self.schedule(watch, self._next_delay(watch, job, changed))

    def _next_delay(self, watch: Watch, job: Job, changed: bool) -> float:
        policy = self.policy
        # Any change, a sub-job's included, means the job is moving: look again soon.
        watch.interval = delay = policy.next_interval(None if changed else watch.interval)
        if (
            policy.hazard is not None
            and job.begin_time is not None
            and self._durations.knows(job.job_type)
        ):
            # The job's age by the wall clock, as the API's begin_time is a wall time.
            age = time.time() - job.begin_time.timestamp()
            learned = self._durations.delay(job.job_type, age, policy.hazard)
            if learned is not None:
                delay = min(max(learned, policy.interval / 4), policy.max_interval)
        return policy.spread(delay, self._rng)

    def _failed(self, watch: Watch, error: EvsJobWatchError, now: float) -> None:
        policy = self.policy
        if isinstance(error, JobNotFoundError):
            if watch.missing_since is None:
                watch.missing_since = now
            left = watch.missing_since + policy.not_found_grace - now
            if left <= 0:
                self._on_final_error(watch, error)
            else:
                self.schedule(watch, min(policy.spread(policy.interval, self._rng), left))
            return
        if not isinstance(error, _TRANSIENT):
            self._on_final_error(watch, error)  # authentication and other refusals
            return
        self.errors += 1
        watch.errors += 1
        if watch.errors >= policy.max_consecutive_errors:
            self._on_final_error(watch, error)
            return
        if watch.delays is None:
            watch.delays = policy.error_delays()
        delay = next(watch.delays)
        if isinstance(error, ThrottledError):
            if error.retry_after is not None:
                delay = max(delay, error.retry_after)
            # A 429 is about the account, not the job: every job waits it out, and the
            # whole watcher then sends at a lower rate until answers are clean again.
            self.throttled += 1
            self._paused_until = max(self._paused_until, now + delay)
            self._governor.throttled(now)
        self.schedule(watch, delay)
