"""Poller: carries out the schedule. Due watches are polled, answers handed to them.

Due times sit in one heap, under one loop timer for the earliest (no timer per job and
no scan of all jobs per tick). A due watch joins a ready queue, which at most
``max_concurrency`` worker tasks drain in order, most overdue first: as many workers as
there are ready watches are set going in the same loop step, so watches due together go
out together. A worker that finds the queue empty parks until there is work again (a new
task per poll would cost more than the poll's own work at low rates); so a slot is held
only while a request waits for its turn or is in flight, never while a job sleeps. What
to do after an answer or an error is decided by ``_schedule``; what an answer means, by
the watch itself.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections import deque
from typing import Protocol, runtime_checkable

from ._codec import Answer
from ._errors import EvsApiError, EvsJobWatchError, ThrottledError
from ._learn import DurationModel
from ._models import Job
from ._pacer import Pacer
from ._policy import PollPolicy
from ._schedule import Cadence, after_answer, after_error, is_transient
from ._watch import Watch

__all__ = ["AnswerSource", "JobSource", "Poller"]

logger = logging.getLogger("evs_job_watch")

_NOW = 0.001  # seconds: a delay shorter than this is not worth a place in the heap
_CADENCES = 256  # distinct cadences shared at most


class JobSource(Protocol):
    """What the watcher polls: ``EvsJobClient`` or anything with the same ``get_job``."""

    async def get_job(self, job_id: str) -> Job: ...


@runtime_checkable
class AnswerSource(Protocol):
    """A source that knows a body it has seen before, and then decodes nothing.

    ``EvsJobClient.poll_job``: it gives ``last`` back when the body is the one ``last``
    was decoded from, so the watch sees at once that nothing changed.
    """

    async def poll_job(self, job_id: str, last: Answer | None) -> Answer: ...


class Poller:
    """Polls watches on their schedule, paced by one ``Pacer``."""

    def __init__(
        self, client: JobSource, policy: PollPolicy, max_concurrency: int, pacer: Pacer
    ) -> None:
        self.policy = policy
        self._client = client
        self._source = client if isinstance(client, AnswerSource) else None
        self._max_concurrency = max_concurrency
        self._pacer = pacer
        self._rng = random.Random()
        # A heap of watches by due time (Watch.due): no tuple per poll, so a steady poll
        # leaves nothing behind for the garbage collector's oldest generation to walk.
        self._due: list[Watch] = []
        self._wakeup: asyncio.TimerHandle | None = None  # at the heap's earliest due time
        self._ready: deque[Watch] = deque()
        self._soon: list[Watch] = []  # due now, joining the ready queue at the next turn
        self._workers: set[asyncio.Task[None]] = set()
        self._parked: list[asyncio.Future[None]] = []  # workers waiting for work
        self._waking = 0  # workers woken or started that have not taken work yet
        self._closed = False
        self._durations = DurationModel()
        self._cadences: dict[Cadence, Cadence] = {}  # one of each seen after an answer
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
        self._parked.clear()
        return set(self._workers)

    def schedule(self, watch: Watch, delay: float, now: float | None = None) -> None:
        """Poll ``watch`` in ``delay`` seconds (0: at the next turn of the loop) from ``now``
        (the loop's time, when the caller has just read it)."""
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
        due = (loop.time() if now is None else now) + delay
        watch.due = due  # never while it is in the heap: it is scheduled once per poll
        heapq.heappush(self._due, watch)
        if self._wakeup is None or due < self._wakeup.when():
            if self._wakeup is not None:
                self._wakeup.cancel()
            self._wakeup = loop.call_at(due, self._wake)

    def _line_up(self) -> None:
        self._ready.extend(self._soon)
        self._soon.clear()
        self._dispatch()

    def _wake(self) -> None:
        self._wakeup = None
        loop = asyncio.get_running_loop()
        now, due, ready = loop.time(), self._due, self._ready
        while due and due[0].due <= now:
            watch = heapq.heappop(due)
            if watch.polling:  # an ended watch just leaves the heap
                ready.append(watch)
        if due:
            self._wakeup = loop.call_at(due[0].due, self._wake)
        self._dispatch()

    def _dispatch(self) -> None:
        # As many workers as there are ready watches, all in this loop step (woken if
        # parked, else started, up to max_concurrency): due watches go out together.
        wanted = len(self._ready) - self._waking
        while wanted > 0 and self._parked and not self._closed:
            self._parked.pop().set_result(None)
            self._waking += 1
            wanted -= 1
        while wanted > 0 and len(self._workers) < self._max_concurrency and not self._closed:
            task = asyncio.get_running_loop().create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
            self._waking += 1
            wanted -= 1

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        ready = self._ready
        while True:
            self._waking -= 1
            while ready:
                watch = ready.popleft()
                if watch.polling:
                    await self._poll(watch)
            parked = loop.create_future()
            self._parked.append(parked)
            await parked  # until _dispatch has work for it, or close cancels it

    async def _poll(self, watch: Watch) -> None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        wait = self._pacer.turn(sent)
        if wait > 0:
            await asyncio.sleep(wait)
            if not watch.polling:
                return
            sent = loop.time()
        self.in_flight += 1
        self.polls += 1
        try:
            if self._source is not None:
                answer = await self._source.poll_job(watch.job_id, watch.answer)
            else:
                answer = Answer(await self._client.get_job(watch.job_id))
        except EvsJobWatchError as exc:
            if watch.polling:
                self._failed(watch, exc, loop.time())
            return
        except Exception as exc:  # a bug or a foreign client: end this watch, not the worker
            logger.exception("polling job %s failed unexpectedly", watch.job_id)
            if watch.polling:
                watch.failed(exc)
            return
        finally:
            self.in_flight -= 1
        if watch.polling:
            self._answered(watch, answer, loop.time(), sent)

    def _answered(self, watch: Watch, answer: Answer, now: float, sent: float) -> None:
        job = answer.job
        if logger.isEnabledFor(logging.DEBUG):  # else not even the record's fields are built
            logger.debug(
                "job %s is %s (%.0f ms)",
                job.job_id,
                job.status.value,
                (now - sent) * 1000,
                extra={"job_id": job.job_id, "status": job.status.value},
            )
        self._pacer.answered(now)
        changed = watch.answered(answer)
        if not watch.polling:  # it ended: with this answer, or a callback let it go
            if job.is_terminal:
                self._durations.observe(job)
        else:
            cadence, delay = after_answer(
                watch.cadence, changed, self._learned(job), self.policy, self._rng
            )
            if cadence is not watch.cadence:
                # Watches on the same cadence share one record (after an answer most are
                # on one of a few intervals): thousands of watches, a handful of them.
                cadence = self._cadences.setdefault(cadence, cadence)
                if len(self._cadences) > _CADENCES:
                    self._cadences.clear()
                watch.cadence = cadence
            self.schedule(watch, delay, now)

    def _learned(self, job: Job) -> float | None:
        """The delay that the durations of ended jobs of its type suggest, if any."""
        hazard = self.policy.hazard
        if hazard is None or job.begin_time is None or not self._durations.knows(job.job_type):
            return None
        # The job's age by the wall clock, as the API's begin_time is a wall time.
        age = time.time() - job.begin_time.timestamp()
        return self._durations.delay(job.job_type, age, hazard)

    def _failed(self, watch: Watch, error: EvsJobWatchError, now: float) -> None:
        watch.cadence, delay = after_error(watch.cadence, error, now, self.policy, self._rng)
        if is_transient(error):
            self.errors += 1
        code = error.code if isinstance(error, EvsApiError) else None
        extra = {"job_id": watch.job_id, "error_code": code}
        if delay is None:
            logger.warning("watch of job %s gives up: %s", watch.job_id, error, extra=extra)
            watch.failed(error)
            return
        if is_transient(error):  # not a job still unknown to the API
            logger.info("job %s: %s; retrying in %.1f s", watch.job_id, error, delay, extra=extra)
        if isinstance(error, ThrottledError):
            # A 429 is about the account, not the job: every job waits it out, and the
            # whole watcher then sends at a lower rate until answers are clean again.
            self.throttled += 1
            self._pacer.throttled(now, delay)
            logger.info("throttled by the API: pausing for %.1f s", delay, extra=extra)
        self.schedule(watch, delay)
