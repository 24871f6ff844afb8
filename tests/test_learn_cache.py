"""The learned schedule's shortcuts change no decision.

``DurationModel.delay`` decides for one job with the age's bin and survival found once,
and the latency's terms worked out once per latency; ``Curve.calm`` looks up the first
bin at a rate instead of walking the grid. Each is compared, for equal floats, with the
schedule's steps spelled out through the curve's own methods. The replayed answers hold
what the shortcuts could miss: more running jobs of one kind than the model counts, jobs
seen again in the same age bin and in the next, jobs ending, batches, a kind never seen,
ages past the grid, and two latencies.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

from evs_job_watch import Job, JobEntities, JobStatus, JobType
from evs_job_watch._core._learn import (
    _DENSE,
    _DONE,
    _LATER,
    _SHRINK,
    _SKIP,
    _SOON,
    _SURE,
    DurationModel,
)
from evs_job_watch._core._survival import BINS, EDGES, Curve, bin_of
from evs_job_watch._policy import DEFAULT_LATENCY

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
EPOCH = T0.timestamp()
TYPES = (JobType.CREATE_VOLUME, JobType.EXTEND_VOLUME, JobType.DELETE_VOLUME)


def _job(rng: random.Random, index: int, begin: float, now: float, end: float) -> Job:
    job_type = TYPES[index % len(TYPES)] if index % 17 else None
    begin_time = T0 + timedelta(seconds=begin)
    if now >= end:
        end_time = T0 + timedelta(seconds=end)
        return Job(f"job{index}", JobStatus.SUCCESS, job_type, begin_time, end_time)
    if index % 11 == 0:  # a batch: some sub-jobs ended, some running
        subs = []
        for n in range(3):
            sub_end = begin + (end - begin) * (n + 1) / 4
            done = now >= sub_end
            subs.append(
                Job(
                    f"job{index}-{n}",
                    JobStatus.SUCCESS if done else JobStatus.RUNNING,
                    JobType.CREATE_VOLUME,
                    begin_time,
                    T0 + timedelta(seconds=sub_end) if done else None,
                )
            )
        entities = JobEntities(sub_jobs=tuple(subs))
        return Job(f"job{index}", JobStatus.RUNNING, JobType.BATCH_CREATE_VOLUME, begin_time,
                   entities=entities)  # fmt: skip
    return Job(f"job{index}", JobStatus.RUNNING, job_type, begin_time)


def _composed(curve: Curve, age: float, latency: float) -> float:
    """The delay for one job as ``_core/_learn.py``'s docstring tells it, step by step,
    each asked of the curve by its own method."""
    scale = latency / DEFAULT_LATENCY
    small = math.pow(min(scale, 1.0), _SHRINK)
    seen = curve.at_risk(age)
    chance = _SKIP * seen / (seen + _SURE)
    tail = _SKIP * age / (1 - _SKIP) / (1 + seen)
    quiet = min(curve.quiet(age, chance * small), curve.calm(age, _DENSE / latency))
    skip = max(quiet, tail * small)
    soon = latency * min(0.5 * math.pow(max(scale, 1.0), _LATER), 1.0)
    if curve.ending_within(age + skip, soon) >= _SOON:
        return skip + soon
    return min(skip + latency, max(curve.quiet(age, _DONE), soon))


def test_the_decision_is_the_schedules_steps_composed() -> None:
    rng = random.Random(24)
    # 900 jobs of three kinds (over the 512 running jobs counted per kind), begun over
    # the first 60 s, lasting 5 s to 20 min; polled round-robin, a few ms apart.
    jobs = []
    for index in range(900):
        begin = rng.uniform(0.0, 60.0)
        jobs.append((index, begin, begin + rng.lognormvariate(4.0, 1.2) + 5.0))
    model = DurationModel()
    now, single, past = 61.0, 0, 0
    # Then 550 jobs of one kind begun together, never ending, polled round-robin, and
    # again hours later (past the grid).
    steady = [(i, 62.0, 1e9) for i in range(3000, 5000) if i % 3 == 0 and i % 17 and i % 11]
    for step in range(10000):
        if step == 9000:
            now += 30000.0
        index, begin, end = jobs[step % len(jobs)] if step < 6000 else steady[step % len(steady)]
        now += rng.uniform(0.0, 0.02 if step < 6000 else 0.001)
        job = _job(rng, index, begin, now, end)
        wall = EPOCH + now
        model.seen(job, wall)
        if job.is_terminal:
            continue
        latency = 4.2 if step % 5 else 9.5
        got = model.delay(job, wall, latency)
        if job.sub_jobs:  # a batch: decided on its sub-jobs' curves (test_learn.py)
            continue
        single += 1
        curve = model._curve(job.job_type.value if job.job_type else "")
        assert job.begin_time is not None
        age = max(wall - job.begin_time.timestamp(), 0.0)
        assert got == _composed(curve, age, latency), (step, job.job_id)
        past += age > EDGES[BINS]
    assert single > 6500 and past > 500, (single, past)


def _calm_walk(curve: Curve, age: float, rate: float) -> float:
    """``Curve.calm`` as a walk along the grid (what its look-up table replaces)."""
    j = bin_of(age)
    logs = curve.log_survival
    while j < BINS:
        if logs[j] - logs[j + 1] >= rate * (EDGES[j + 1] - EDGES[j]):
            return max(EDGES[j] - age, 0.0)
        j += 1
    return max(1.0 / rate - max(age, EDGES[BINS]), 0.0) + max(EDGES[BINS] - age, 0.0)


def test_calm_looked_up_is_calm_walked() -> None:
    rng = random.Random(3)
    for _ in range(20):
        events = [rng.choice((0.0, 0.0, 1.0, 3.0)) for _ in range(BINS)]
        alive = [rng.choice((0.0, 0.0, 2.0)) for _ in range(BINS)]
        curve = Curve(events, alive, [0.05] * BINS, 2.0)
        for _ in range(200):
            age = rng.choice((0.0, rng.uniform(0.0, 60.0), rng.uniform(0.0, 30000.0)))
            rate = rng.choice((0.1 / 4.2, 0.1 / 9.5, 0.02, rng.uniform(0.001, 1.0)))
            assert curve.calm(age, rate) == _calm_walk(curve, age, rate)
