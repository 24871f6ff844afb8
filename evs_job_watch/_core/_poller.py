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

With a shared store (``_store``), the watches polled here are those the store's claim
cycles hand to this replica (``_fleet.FleetSide`` runs them: it schedules what is
claimed, and asks here which watches to hand back when the fleet grows). A watch is
polled only while the store's leases hold (``leased_until``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import random
import time
from collections import deque
from collections.abc import Collection, Iterable, Mapping

from .._errors import EvsApiError, EvsJobWatchError, ThrottledError
from .._models import Job
from .._policy import PollPolicy
from .._wire._codec import Answer
from ._hints import Hints
from ._learn import DurationModel
from ._pacer import Pacer
from ._schedule import Cadence, Place, after_answer, after_error, is_transient
from ._source import AnswerSource, JobSource
from ._store import Store
from ._tasks import TaskGroup
from ._watch import Watch

__all__ = ["Poller"]

logger = logging.getLogger("evs_job_watch")

_CADENCES = 256  # distinct cadences shared at most
_LEASE_RETRY = 0.25  # seconds between looks at a lease that lapsed (its store reconnects)

_KEEP_PLACE = 3  # 429s in a row after which a watch backs off rather than keep its place


class Poller:
    """Polls watches on their schedule, paced by one ``Pacer``."""

    def __init__(
        self,
        client: JobSource,
        policy: PollPolicy,
        max_concurrency: int,
        pacer: Pacer,
        store: Store,
        durations: DurationModel,
        rng: random.Random,
        tasks: TaskGroup,
    ) -> None:
        self.policy = policy
        self._store = store
        self._tasks = tasks  # the watcher's: it runs the workers and the claim loop
        self._client = client
        self._source = client if isinstance(client, AnswerSource) else None
        self._max_concurrency = max_concurrency
        self._pacer = pacer
        self._turns = asyncio.Lock()  # held by the one request waiting for its slot
        self._rng = rng  # jitter: given, so that a seeded one repeats every delay
        # A heap of places by due time (Place.due), each carried from poll to poll.
        self._due: list[Place] = []
        # The timer at the heap's earliest due time, and that time (uvloop's handle of
        # a timer already due has no when()).
        self._wakeup: asyncio.TimerHandle | asyncio.Handle | None = None
        self._wakeup_at = math.inf
        self._ready: deque[Place] = deque()
        self._soon: list[Place] = []  # due now, joining the ready queue at the next turn
        self._workers = 0  # worker tasks running
        self._parked: list[asyncio.Future[None]] = []  # workers waiting for work
        self._waking = 0  # workers woken or started that have not taken work yet
        self._closed = False
        self._durations = durations
        self._cadences: dict[Cadence, Cadence] = {}  # one of each seen after an answer
        self.in_flight = 0
        self.polls = self.errors = self.throttled = 0
        self.hints: Hints | None = None  # told every answer, if the watcher wants hints

    def learn(self, job: Job) -> None:
        """A job ended, here or on another replica: its durations teach the schedule."""
        self._durations.seen(job, time.time())

    def owned(self, live: Iterable[Watch]) -> list[tuple[Watch, float]]:
        """Of the ``live`` watches, those polled here, and the seconds until each is due:
        never sooner than one interval, as a request may have just gone out."""
        now = asyncio.get_running_loop().time()
        interval = self.policy.interval
        due = {place.watch: max(place.due - now, interval) for place in self._due}
        return [(watch, due.get(watch, interval)) for watch in live if watch.polling]

    def close(self) -> None:
        """Poll nothing more (the watcher's task group ends the workers)."""
        self._closed = True
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup, self._wakeup_at = None, math.inf
        self._due.clear()
        self._ready.clear()
        self._soon.clear()
        self._parked.clear()

    # -- what a shared store's claims ask of the schedule ----------------------------------

    def shed(self, count: int) -> list[tuple[Watch, float]]:
        """Yield ``count`` of the watches due last (the fleet grew, this replica's share
        shrank): each with the seconds until it is due, to hand back to the fleet."""
        now = asyncio.get_running_loop().time()
        # Never sooner than an interval from now, so that no job is polled by two
        # replicas within one interval.
        latest = sorted(self._due, reverse=True)[:count]
        handed = []
        for place in latest:
            if place.live:
                place.watch.yielded()
                handed.append((place.watch, max(place.due - now, self.policy.interval)))
        self.drop_yielded()
        return handed

    def drop_yielded(self) -> None:
        """Forget the due times of watches polled elsewhere now (rare: an O(n) pass)."""
        self._due = [place for place in self._due if place.live]
        heapq.heapify(self._due)

    def schedule(self, watch: Watch, delay: float) -> None:
        """Poll ``watch``, new to the poller (or adopted again), in ``delay`` seconds (0: at
        the next turn of the loop), on the policy's starting cadence."""
        self._put(Place(watch), delay)

    def hurry(self, watches: Collection[Watch]) -> int:
        """Bring the next poll of ``watches`` forward to now (a hint: ``_hints``), those
        waiting in the heap; how many moved. One pass over the heap per listing round."""
        now = asyncio.get_running_loop().time()
        moved = 0
        for place in self._due:
            if place.due > now and place.watch in watches:
                place.due = now
                moved += 1
        if moved and not self._closed:
            heapq.heapify(self._due)
            if self._wakeup is not None:
                self._wakeup.cancel()
            self._wake()
        return moved

    def _put(self, place: Place, delay: float, now: float | None = None) -> None:
        """Poll ``place``'s watch in ``delay`` seconds (0: at the next turn of the loop)
        from ``now`` (the loop's time, when the caller has just read it)."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        if delay <= 0:
            # Back in line at the next turn of the loop, all such watches with one
            # callback (a client that answers without waiting must still let the loop
            # run, so never straight back into the ready queue). Any later time, however
            # near, goes through the heap, so that the clock moves on before it is due.
            self._soon.append(place)
            if len(self._soon) == 1:
                loop.call_soon(self._line_up)
            return
        due = (loop.time() if now is None else now) + delay
        place.due = due  # never while it is in the heap: it is scheduled once per poll
        heapq.heappush(self._due, place)
        if due < self._wakeup_at:
            if self._wakeup is not None:
                self._wakeup.cancel()
            self._wakeup = loop.call_at(due, self._wake)
            self._wakeup_at = due

    def _first_in_line(self, place: Place) -> None:
        """Poll ``place``'s watch before every other due one (it keeps its place after a
        429)."""
        if not self._closed:
            self._ready.appendleft(place)
            self._dispatch()

    def _line_up(self) -> None:
        self._ready.extend(self._soon)
        self._soon.clear()
        self._dispatch()

    def _wake(self) -> None:
        self._wakeup, self._wakeup_at = None, math.inf
        loop = asyncio.get_running_loop()
        now, due, ready = loop.time(), self._due, self._ready
        while due and due[0].due <= now:
            place = heapq.heappop(due)
            if place.live:  # an ended watch just leaves the heap
                ready.append(place)
        if due:
            self._wakeup = loop.call_at(due[0].due, self._wake)
            self._wakeup_at = due[0].due
        self._dispatch()

    def _dispatch(self) -> None:
        # As many workers as there are ready watches, all in this loop step (woken if
        # parked, else started, up to max_concurrency): due watches go out together.
        wanted = len(self._ready) - self._waking
        while wanted > 0 and self._parked and not self._closed:
            self._parked.pop().set_result(None)
            self._waking += 1
            wanted -= 1
        while wanted > 0 and self._workers < self._max_concurrency and not self._closed:
            self._tasks.start(self._work()).add_done_callback(self._worker_ended)
            self._workers += 1
            self._waking += 1
            wanted -= 1

    def _worker_ended(self, task: asyncio.Task[None]) -> None:
        self._workers -= 1

    async def _work(self) -> None:
        # A poll is this loop's body and the source's one coroutine (no coroutine of its
        # own per poll: a layer that only forwards costs as much as the poll's own work).
        loop = asyncio.get_running_loop()
        ready = self._ready
        source, client, store = self._source, self._client, self._store
        while True:
            self._waking -= 1
            while ready:
                if self._pacer.spacing:
                    # Requests are spaced: take the next slot first, then the watch first
                    # in line at that moment (the most overdue, or one just throttled).
                    await self.turn()
                while ready and not ready[0].live:
                    ready.popleft()  # an ended watch just leaves the line
                if not ready:
                    break
                place = ready.popleft()
                watch = place.watch
                sent = loop.time()
                if sent >= store.leased_until:
                    # A shared store that could not renew its leases: another replica may
                    # take this watch any moment, so it is not polled until it reconnects.
                    self._put(place, _LEASE_RETRY)
                    continue
                self.in_flight += 1
                self.polls += 1
                try:
                    if source is not None:
                        answer = await source.poll_job(watch.job_id, watch.answer)
                    else:
                        answer = Answer(await client.get_job(watch.job_id))
                except EvsJobWatchError as exc:
                    if place.live:
                        self._failed(place, exc, loop.time(), sent)
                    continue
                except Exception as exc:  # a bug or a foreign client: end this watch only
                    logger.exception("polling job %s failed unexpectedly", watch.job_id)
                    if place.live:
                        watch.failed(exc)
                    continue
                finally:
                    self.in_flight -= 1
                if place.live:
                    self._answered(place, answer, loop.time(), sent)
            parked = loop.create_future()
            self._parked.append(parked)
            await parked  # until _dispatch has work for it, or close cancels it

    async def turn(self) -> None:
        """Wait for the next request slot. One worker waits at a time, so that a new pace
        or a 429's pause holds every request not yet sent."""
        loop = asyncio.get_running_loop()
        async with self._turns:
            wait = self._pacer.turn(loop.time())
            while wait is None:  # a shared pace with no fleet slot left: reserve more
                await self._pacer.refill()
                wait = self._pacer.turn(loop.time())
            while wait > 0:
                await asyncio.sleep(wait)
                wait = self._pacer.held(loop.time())

    def _answered(self, place: Place, answer: Answer, now: float, sent: float) -> None:
        job, watch = answer.job, place.watch
        if logger.isEnabledFor(logging.DEBUG):  # else not even the record's fields are built
            logger.debug(
                "job %s is %s (%.0f ms)",
                job.job_id,
                job.status.value,
                (now - sent) * 1000,
                extra={"job_id": job.job_id, "status": job.status.value},
            )
        self._pacer.answered(now, sent)
        changed = watch.answered(answer)
        if self.hints is not None:
            self.hints.answered(watch, job)
        learned = self._learned(job)
        if watch.polling:  # else it ended: with this answer, or a callback let it go
            cadence, delay = after_answer(place.cadence, changed, learned, self.policy, self._rng)
            if cadence is not place.cadence:
                # Watches on the same cadence share one record (after an answer most are
                # on one of a few intervals): thousands of watches, a handful of them.
                cadence = self._cadences.setdefault(cadence, cadence)
                if len(self._cadences) > _CADENCES:
                    self._cadences.clear()
                place.cadence = cadence
            self._put(place, delay, now)

    def _learned(self, job: Job) -> float | None:
        """Learn from an answer; for a job still running, the delay that suggests."""
        latency = self.policy.latency
        if latency is None:
            return None
        # The API's begin_time and end_time are wall times.
        return self._durations.answered(job, time.time(), latency)

    def history(self) -> dict[str, list[float]]:
        """The durations learned per kind of job, for a snapshot."""
        return self._durations.history()

    def relearn(self, history: Mapping[str, Iterable[float]]) -> None:
        """Take back the durations of a snapshot's ``history()``."""
        for kind, durations in history.items():
            self._durations.add(kind, durations)

    def _failed(self, place: Place, error: EvsJobWatchError, now: float, sent: float) -> None:
        watch = place.watch
        if isinstance(error, ThrottledError):
            self.throttled += 1
            self._pacer.throttled(now, error.retry_after or 0.0, sent)
        else:
            self._pacer.answered(now, sent)  # it got through, whatever the API said of it
        place.cadence, delay = after_error(place.cadence, error, now, self.policy, self._rng)
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
            if place.cadence.errors <= _KEEP_PLACE:
                self._first_in_line(place)
            else:
                asyncio.get_running_loop().call_later(delay, self._first_in_line, place)
            return
        if is_transient(error):  # not a job still unknown to the API
            logger.info("job %s: %s; retrying in %.1f s", watch.job_id, error, delay, extra=extra)
        self._put(place, delay)
