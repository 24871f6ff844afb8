"""Learned durations: polls go out when jobs of the same type tend to end."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from evs_job_watch import Job, JobStatus, JobType, JobWatcher, PollPolicy
from evs_job_watch._learn import DurationModel

from .scripted import ScriptedClient

CREATE = JobType.CREATE_VOLUME
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def ended(duration: float, job_type: JobType | None = CREATE, job_id: str = "j") -> Job:
    return Job(
        job_id=job_id,
        status=JobStatus.SUCCESS,
        job_type=job_type,
        begin_time=START,
        end_time=START + timedelta(seconds=duration),
    )


def test_no_delay_is_suggested_without_enough_history() -> None:
    model = DurationModel()
    assert model.delay(CREATE, 0, 0.5) is None
    for _ in range(9):
        model.observe(ended(30))
    assert model.delay(CREATE, 0, 0.5) is None
    model.observe(ended(30))
    assert model.delay(CREATE, 0, 0.5) == 30
    assert model.delay(JobType.DELETE_VOLUME, 0, 0.5) is None
    assert model.delay(None, 0, 0.5) is None


def test_the_next_poll_is_due_at_the_hazard_quantile_of_the_jobs_still_running() -> None:
    model = DurationModel()
    for seconds in range(1, 101):
        model.observe(ended(seconds))
    assert model.delay(CREATE, 0, 0.5) == 50
    assert model.delay(CREATE, 60, 0.5) == 80 - 60
    assert model.delay(CREATE, 60, 0.25) == 70 - 60
    assert model.delay(CREATE, 60, 1.0) == 100 - 60
    assert model.delay(CREATE, 100, 0.5) is None  # older than every job seen


def test_jobs_without_times_teach_nothing_and_memory_is_bounded() -> None:
    model = DurationModel()
    for _ in range(20):
        model.observe(Job(job_id="j", status=JobStatus.SUCCESS, job_type=CREATE))
        model.observe(ended(5, job_type=None))
    assert model.delay(CREATE, 0, 0.5) is None
    for seconds in range(300):  # only the 200 most recent are kept
        model.observe(ended(seconds))
    assert model.delay(CREATE, 0, 0.005) == 100  # the shortest kept: 100 s
    for n in range(100):
        for _ in range(10):
            model.observe(ended(7, job_type=JobType(f"invented{n}")))
    assert model.delay(JobType("invented63"), 0, 0.5) is None  # past the cap of types


def test_hazard_is_a_fraction_or_none() -> None:
    assert PollPolicy(hazard=None).hazard is None
    for wrong in (0, 1.5, -0.1, "half"):
        with pytest.raises(ValueError, match="hazard"):
            PollPolicy(hazard=wrong)  # type: ignore[arg-type]


@pytest.mark.virtual_clock
@pytest.mark.parametrize(("hazard", "gap"), [(0.5, 30.0), (None, 2.0)])
async def test_a_learned_type_is_polled_when_its_jobs_tend_to_end(
    hazard: float | None, gap: float
) -> None:
    now = datetime.now(timezone.utc)
    born = now.timestamp()
    client = ScriptedClient()
    for n in range(10):
        job_id = f"old{n}"
        client.script(
            job_id,
            Job(job_id, JobStatus.SUCCESS, CREATE, now, now + timedelta(seconds=30)),
        )
    running = Job("new", JobStatus.RUNNING, CREATE, now)
    client.script("new", running)
    policy = PollPolicy(interval=2, max_interval=60, jitter=0, hazard=hazard)
    async with JobWatcher(client, policy=policy) as watcher:
        await watcher.wait_all([f"old{n}" for n in range(10)])
        start = asyncio.get_running_loop().time()
        before = time.time()
        handle = watcher.watch("new")
        await asyncio.sleep(45)
        after = time.time()
        handle.cancel()
    polls = [at - start for at in client.polls("new")]
    assert polls[0] == 0
    if hazard is None:
        assert polls[1] == pytest.approx(gap)
    else:
        # The job's age is read off the wall clock, which runs on, however slowly the
        # machine goes, between the job's begin_time and the first answer: the poll comes
        # when the old jobs ended (gap seconds after begin_time), less that age.
        assert gap - (after - born) - 1e-6 <= polls[1] <= gap - (before - born) + 1e-6
