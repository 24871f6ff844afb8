"""Poller: carries out the schedule. Due watches are polled, answers handed to them.

Due times sit in one heap, under one loop timer for the earliest (no timer per job and
no scan of all jobs per tick). A due watch joins a ready queue, which at most
``max_concurrency`` worker tasks drain in order, most overdue first; a worker exists
only while there is work, so a slot is held only while a request waits for its turn or
is in flight, never while a job sleeps. What to do after an answer or an error is
decided by ``_schedule``; what an answer means, by the watch itself.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
from collections import deque
from typing import Protocol

from ._errors import EvsApiError, EvsJobWatchError, ThrottledError
from ._learn import DurationModel
from ._models import Job
from ._pacer import Pacer
from ._policy import PollPolicy
from ._schedule import after_answer, after_error, is_transient
from ._watch import Watch

__all__ = ["JobSource", "Poller"]

logger = logging.getLogger("evs_job_watch")

_NOW = 0.001  # seconds: a delay shorter than this is not worth a place in the heap
_KEEP_PLACE = 3  # 429s in a row after which a watch backs off before it goes first again


class JobSource(Protocol):
    """What the watcher polls: ``EvsJobClient`` or anything with the same ``get_job``."""

    async def get_job(self, job_id: str) -> Job: ...


class Poller:
    """Polls watches on their schedule, paced by one ``Pacer``."""

    def __init__(
        self, client: JobSource, policy: PollPolicy, max_concurrency: int, pacer: Pacer
    ) -> None:
        self.policy = policy
        self._client = client
        self._max_concurrency = max_concurrency
        self._pacer = pacer
        self._turns = asyncio.Lock()  # held by the one request waiting for its slot
        self._rng = random.Random()
        self._due: list[tuple[float, int, Watch]] = []  # a heap of (due time, tie-breaker, watch)
        self._order = itertools.count()
        self._wakeup: asyncio.TimerHandle | None = None  # at the heap's earliest due time
        self._ready: deque[Watch] = deque()
        self._soon: list[Watch] = []  # due now, joining the ready queue at the next turn
        self._workers: set[asyncio.Task[None]] = set()
        self._starting = False
        self._closed = False
        self._durations = DurationModel()
        self.in_flight = 0
        self.polls = self.errors = self.throttled = 0

    def close(self) -> set[asyncio.Task[None]]:
        """Poll nothing more; returns the workers still running, for the caller to end."""
        self._closed = True
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        self._due.clear()
        self._ready.clear()
        self._soon.clear()
        return set(self._workers)

    def schedule(self, watch: Watch, delay: float) -> None:
        """Poll ``watch`` in ``delay`` seconds (0: at the next turn of the loop)."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        if delay < _NOW:
            # Back in line at the next turn of the loop, all such watches with one
            # callback (a client that answers without waiting must still let the loop
            # run, so never straight back into the ready queue).
            self._soon.append(watch)
            if len(self._soon) == 1:
                loop.call_soon(self._line_up)
            return
        due = loop.time() + delay
        heapq.heappush(self._due, (due, next(self._order), watch))
        if self._wakeup is None or due < self._wakeup.when():
            if self._wakeup is not None:
                self._wakeup.cancel()
            self._wakeup = loop.call_at(due, self._wake)

    def _first_in_line(self, watch: Watch) -> None:
        """Poll ``watch`` before every other due one (it keeps its place after a 429)."""
        if not self._closed:
            self._ready.appendleft(watch)
            self._start_worker()

    def _line_up(self) -> None:
        self._ready.extend(self._soon)
        self._soon.clear()
        self._start_worker()

    def _wake(self) -> None:
        self._wakeup = None
        loop = asyncio.get_running_loop()
        now, due, ready = loop.time(), self._due, self._ready
        while due and due[0][0] <= now:
            watch = heapq.heappop(due)[2]
            if watch.polling:  # an ended watch just leaves the heap
                ready.append(watch)
        if due:
            self._wakeup = loop.call_at(due[0][0], self._wake)
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
            if self._pacer.spacing:
                # Requests are spaced: take the next slot first, then the watch first in
                # line at that moment (the most overdue, or one just throttled).
                await self._turn()
            while ready and not ready[0].polling:
                ready.popleft()  # an ended watch just leaves the line
            if not ready:
                return
            watch = ready.popleft()
            self._start_worker()
            await self._poll(watch)

    async def _turn(self) -> None:
        """Wait for the next request slot. One worker waits at a time, so that a new pace
        or a 429's pause holds every request not yet sent."""
        loop = asyncio.get_running_loop()
        async with self._turns:
            wait = self._pacer.turn(loop.time())
            while wait > 0:
                await asyncio.sleep(wait)
                wait = self._pacer.held(loop.time())

    async def _poll(self, watch: Watch) -> None:
        loop = asyncio.get_running_loop()
        self.in_flight += 1
        self.polls += 1
        sent = loop.time()
        try:
            job = await self._client.get_job(watch.job_id)
        except EvsJobWatchError as exc:
            if watch.polling:
                self._failed(watch, exc, loop.time(), sent)
            return
        except Exception as exc:  # a bug or a foreign client: end this watch, not the worker
            logger.exception("polling job %s failed unexpectedly", watch.job_id)
            if watch.polling:
                watch.failed(exc)
            return
        finally:
            self.in_flight -= 1
        if watch.polling:
            self._answered(watch, job, loop.time(), sent)

    def _answered(self, watch: Watch, job: Job, now: float, sent: float) -> None:
        logger.debug(
            "job %s is %s (%.0f ms)",
            job.job_id,
            job.status.value,
            (now - sent) * 1000,
            extra={"job_id": job.job_id, "status": job.status.value},
        )
        self._pacer.answered(now, sent)
        changed = watch.answered(job)
        if job.status.is_terminal:
            self._durations.observe(job)
        elif watch.polling:
            watch.cadence, delay = after_answer(
                watch.cadence, changed, self._learned(job), self.policy, self._rng
            )
            self.schedule(watch, delay)

    def _learned(self, job: Job) -> float | None:
        """The delay that the durations of ended jobs of its type suggest, if any."""
        hazard = self.policy.hazard
        if hazard is None or job.begin_time is None or not self._durations.knows(job.job_type):
            return None
        # The job's age by the wall clock, as the API's begin_time is a wall time.
        age = time.time() - job.begin_time.timestamp()
        return self._durations.delay(job.job_type, age, hazard)

    def _failed(self, watch: Watch, error: EvsJobWatchError, now: float, sent: float) -> None:
        if isinstance(error, ThrottledError):
            self.throttled += 1
            self._pacer.throttled(now, error.retry_after or 0.0, sent)
        else:
            self._pacer.answered(now, sent)  # it got through, whatever the API said of it
        watch.cadence, delay = after_error(watch.cadence, error, now, self.policy, self._rng)
        if is_transient(error):
            self.errors += 1
        code = error.code if isinstance(error, EvsApiError) else None
        extra = {"job_id": watch.job_id, "error_code": code}
        if delay is None:
            logger.warning("watch of job %s gives up: %s", watch.job_id, error, extra=extra)
            watch.failed(error)
            return
        if isinstance(error, ThrottledError):
            # A 429 is about the account, not the job: the pacer slows every request down
            # and holds them for its Retry-After, and the watch keeps its place in line,
            # first, so that a scarce quota still goes to the most overdue watches. After
            # a few in a row it backs off first, lest it soak up a whole run of 429s alone.
            pause = error.retry_after or 0.0
            logger.info("throttled by the API: pausing for %.1f s", pause, extra=extra)
            if watch.cadence.errors <= _KEEP_PLACE:
                self._first_in_line(watch)
            else:
                asyncio.get_running_loop().call_later(delay, self._first_in_line, watch)
            return
        if is_transient(error):  # not a job still unknown to the API
            logger.info("job %s: %s; retrying in %.1f s", watch.job_id, error, delay, extra=extra)
        self.schedule(watch, delay)
