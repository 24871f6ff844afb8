"""The learned schedule's caches change no decision: a replayed sequence of answers gets
the very same delays (equal floats) from the model as it is and from one whose curves are
all rebuilt from the counts before each decision, and the same jittered delays from the
schedule with the same seeded RNG.

The caches: a curve whose counts did not change since it was built is kept across a new
generation, and ``Curve.calm`` looks up the first bin at a rate instead of walking the
grid. The sequence holds what makes them hit and miss: more running jobs of one kind
than the model remembers (each poll forgets one and counts another), jobs seen again in
the same age bin and in the next, jobs ending, batches with running and ended sub-jobs,
a kind never seen, and two latencies.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from evs_job_watch import Job, JobEntities, JobStatus, JobType, PollPolicy
from evs_job_watch._core._learn import DurationModel
from evs_job_watch._core._schedule import START, after_answer
from evs_job_watch._core._survival import BINS, EDGES, Curve, bin_of

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
EPOCH = T0.timestamp()
TYPES = (JobType.CREATE_VOLUME, JobType.EXTEND_VOLUME, JobType.DELETE_VOLUME)


def _never_reusing(model: DurationModel) -> None:
    """Make ``model`` forget what its curves were built from: each new generation then
    builds its curves afresh (what the model did before curves were kept)."""
    model._pool_built = ()
    for kind in model._kinds.values():
        kind.built = ()


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


def test_the_cached_schedule_decides_as_the_uncached_one() -> None:
    rng = random.Random(24)
    # 900 jobs of three kinds (over the 512 running jobs remembered per kind), begun over
    # the first 60 s, lasting 5 s to 20 min; polled round-robin, a few ms apart.
    jobs = []
    for index in range(900):
        begin = rng.uniform(0.0, 60.0)
        jobs.append((index, begin, begin + rng.lognormvariate(4.0, 1.2) + 5.0))
    model, reference = DurationModel(), DurationModel()
    policy = PollPolicy()
    rngs = (random.Random(7), random.Random(7))
    cadences = [START, START]
    now, kept = 61.0, 0
    # Then 550 jobs of one kind begun together, never ending: polled round-robin, each
    # poll forgets one and counts another in the same bin, so the counts stand.
    steady = [(i, 62.0, 1e9) for i in range(3000, 5000) if i % 3 == 0 and i % 17 and i % 11]
    for step in range(9000):
        index, begin, end = jobs[step % len(jobs)] if step < 6000 else steady[step % len(steady)]
        now += rng.uniform(0.0, 0.02 if step < 6000 else 0.001)
        job = _job(rng, index, begin, now, end)
        wall = EPOCH + now
        model.seen(job, wall)
        reference.seen(job, wall)
        if job.is_terminal:
            continue
        latency = 4.2 if step % 5 else 9.5
        pool = model._pool
        _never_reusing(reference)
        got = model.delay(job, wall, latency)
        assert got == reference.delay(job, wall, latency), (step, job.job_id)
        if pool is not None and model._pool is not None and model._pool[1] is pool[1]:
            kept += pool[0] != model._pool[0]  # a new generation kept the pool's curve
        # The whole decision, jitter included, with the same seeded RNG on each side.
        cadences[0], mine = after_answer(cadences[0], False, got, policy, rngs[0])
        cadences[1], theirs = after_answer(
            cadences[1], False, reference.delay(job, wall, latency), policy, rngs[1]
        )
        assert mine == theirs
    assert kept > 50, kept  # the cache was used, not only missed


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
