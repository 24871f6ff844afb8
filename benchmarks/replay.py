"""A pure discrete-event simulation of the watcher's polling, on simulated time.

No event loop, no HTTP: each poll builds the `Job` the API would answer at that moment
and hands it to the library's own decisions, exactly as `Poller._answered` does:
`DurationModel.seen` and `DurationModel.delay` (`evs_job_watch._core._learn`), then
`_schedule.after_answer` with the policy and a seeded RNG. What it leaves out is what
the real watcher adds on top of those decisions: request latency, the event loop's
lag, the concurrency limit. `policy.py` runs one mix against the real watcher and the
simulator too, to show that the two agree.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from evs_job_watch import Job, JobEntities, JobStatus, JobType, PollPolicy
from evs_job_watch._core._learn import DurationModel
from evs_job_watch._core._schedule import START, Cadence, after_answer

from .mixes import SimJob

__all__ = ["Outcome", "init_phase", "replay"]

EPOCH = 1_767_225_600.0  # the simulated wall clock starts at 2026-01-01T00:00:00Z
_GAP = 1.0  # seconds between the end of a history wave and the next wave


@dataclass
class Outcome:
    """What watching the measured wave cost and gave, per job, in simulated seconds."""

    requests: list[int] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    shortest_gap: float = float("inf")  # the shortest delay between two polls of a job


def init_phase(duration: float) -> float:
    """How long a job stays in INIT: a tenth of its life (the simulator's own jobs spend
    0.3-2 s there; a share keeps the replay the same at any speed)."""
    return 0.1 * duration


def _status(age: float, duration: float) -> JobStatus:
    if age >= duration:
        return JobStatus.SUCCESS
    return JobStatus.INIT if age < init_phase(duration) else JobStatus.RUNNING


class _Watched:
    """One job of a wave, placed on the simulated clock."""

    __slots__ = ("begin", "end", "job", "job_id", "kind", "last", "start", "subs")

    def __init__(self, job: SimJob, start: float, job_id: str) -> None:
        self.job = job
        self.start = start + job.arrival
        self.end = self.start + job.duration
        self.job_id = job_id
        self.kind = JobType(job.job_type)
        self.begin = datetime.fromtimestamp(EPOCH + self.start, tz=timezone.utc)
        self.last: tuple[str, ...] | None = None  # statuses at the last poll
        self.subs = [f"{job_id}s{k}" for k in range(len(job.subs))]

    def answer(self, now: float) -> Job:
        """The job as the API shows it at simulated time `now`."""
        age = now - self.start
        subs = tuple(
            self._one(sub_id, JobType.CREATE_VOLUME, age, duration)
            for sub_id, duration in zip(self.subs, self.job.subs, strict=True)
        )
        status = _status(age, self.job.duration)
        if subs and status is JobStatus.INIT and any(s.status is not JobStatus.INIT for s in subs):
            status = JobStatus.RUNNING
        job = self._one(self.job_id, self.kind, age, self.job.duration)
        if subs or status is not job.status:
            job = Job(
                self.job_id,
                status,
                self.kind,
                self.begin,
                job.end_time,
                entities=JobEntities(sub_jobs=subs),
            )
        return job

    def _one(self, job_id: str, kind: JobType, age: float, duration: float) -> Job:
        status = _status(age, duration)
        ended = self.begin + timedelta(seconds=duration) if status.is_terminal else None
        return Job(job_id, status, kind, self.begin, ended)


def replay(
    waves: Sequence[Sequence[SimJob]], policy: PollPolicy, *, seed: int, speed: float = 1.0
) -> Outcome:
    """Watch each wave to its end, one after the other, with one watcher's learning;
    the outcome of the last wave. With `speed` > 1, every time is divided by it (the
    policy should be scaled alike, see `_common.scaled`) and latencies multiplied back,
    as in the real watcher against a simulator running `speed` times fast."""
    model = DurationModel() if policy.latency is not None else None
    rng = random.Random(seed)
    start = 0.0
    outcome = Outcome()
    for number, jobs in enumerate(waves):
        if model is None and number < len(waves) - 1:
            continue  # a policy that does not learn is not changed by history
        scaled = [
            SimJob(
                j.arrival / speed, j.job_type, j.duration / speed, tuple(s / speed for s in j.subs)
            )
            for j in jobs
        ]
        watched = [_Watched(job, start, f"w{number}j{i}") for i, job in enumerate(scaled)]
        outcome = _watch(watched, policy, model, rng)
        outcome.latency = [value * speed for value in outcome.latency]
        outcome.shortest_gap *= speed
        start = max(w.end for w in watched) + _GAP / speed
    return outcome


def _watch(
    watched: list[_Watched], policy: PollPolicy, model: DurationModel | None, rng: random.Random
) -> Outcome:
    outcome = Outcome([0] * len(watched), [0.0] * len(watched))
    cadences: list[Cadence] = [START] * len(watched)
    previous = [0.0] * len(watched)
    due = [(w.start, i) for i, w in enumerate(watched)]  # the first poll goes out at once
    heapq.heapify(due)
    while due:
        now, i = heapq.heappop(due)
        one = watched[i]
        if outcome.requests[i]:
            outcome.shortest_gap = min(outcome.shortest_gap, now - previous[i])
        previous[i] = now
        outcome.requests[i] += 1
        job = one.answer(now)
        statuses = (job.status.value, *(sub.status.value for sub in job.sub_jobs))
        changed, one.last = statuses != one.last, statuses
        learned = None
        if model is not None:  # as Poller._learned: learn from every answer
            model.seen(job, EPOCH + now)
            if not job.is_terminal:
                learned = model.delay(job, EPOCH + now, policy.latency)  # type: ignore[arg-type]
        if job.is_terminal:
            outcome.latency[i] = now - one.end
            continue
        cadences[i], delay = after_answer(cadences[i], changed, learned, policy, rng)
        heapq.heappush(due, (now + delay, i))
    return outcome
