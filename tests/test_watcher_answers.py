"""A repeated answer: a body identical to the last one is not decoded again, and yet it
counts as an answer for everything an answer refreshes (the error budget, the not-found
grace, the growing interval, the learned schedule), while a timeout still runs out; a
body that differs in one sub-job alone is always seen."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from evs_job_watch import (
    JobNotFoundError,
    JobWatcher,
    PollPolicy,
    ServerError,
    WatchTimeoutError,
)

from .scripted import Recorder, ScriptedBodies, job_body

pytestmark = pytest.mark.virtual_clock

STEADY = PollPolicy(interval=2, max_interval=15, multiplier=1.5, jitter=0, latency=None)
RUNNING = job_body("j", "RUNNING")
DONE = job_body("j", "SUCCESS")


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


def not_found() -> JobNotFoundError:
    return JobNotFoundError("No jobs found.", status=400, code="Common.0011", job_id="j")


async def test_a_repeated_body_is_not_decoded_again() -> None:
    source = ScriptedBodies()
    source.timeline("j", (0, job_body("j", "INIT")), (10, RUNNING), (60, DONE))
    recorder = Recorder()
    async with JobWatcher(source, policy=STEADY, **recorder.callbacks()) as watcher:
        job = await watcher.wait("j")
    assert job.status.value == "SUCCESS"
    assert len(source.polls("j")) > 6
    assert source.decoded == 3  # INIT, RUNNING and SUCCESS, once each
    assert recorder.changes() == [
        ("j", None, "INIT"),
        ("j", "INIT", "RUNNING"),
        ("j", "RUNNING", "SUCCESS"),
    ]


async def test_a_change_of_one_sub_job_in_an_otherwise_identical_batch_is_seen() -> None:
    # RUNNING and SUCCESS have the same length: the bodies differ in those 7 bytes only.
    subs = [(f"s{n}", "RUNNING") for n in range(20)]
    before = job_body("b", "RUNNING", subs=subs)
    after = job_body("b", "RUNNING", subs=[*subs[:7], ("s7", "SUCCESS"), *subs[8:]])
    assert len(before) == len(after)
    assert sum(x != y for x, y in zip(before, after)) <= 7
    ended = job_body("b", "SUCCESS", subs=[(sid, "SUCCESS") for sid, _ in subs])
    source = ScriptedBodies()
    source.timeline("b", (0, before), (20, after), (40, ended))
    recorder = Recorder()
    async with JobWatcher(source, policy=STEADY, **recorder.callbacks()) as watcher:
        await watcher.wait("b")
    # s7 alone ended at 20 s, seen at the first poll after it; the others at 40 s.
    first_end = next(call for call in recorder.calls if call[0] == "complete")
    assert first_end == ("complete", "s7", "SUCCESS", "RUNNING", "b")
    assert ("change", "s7", "SUCCESS", "RUNNING", "b") in recorder.calls
    assert len([call for call in recorder.calls if call[0] == "complete"]) == 21
    assert source.decoded == 3


async def test_a_repeated_body_resets_the_error_budget() -> None:
    source = ScriptedBodies()
    error = ServerError("boom", status=500, job_id="j")
    # Two errors, the same body again, two errors: with a budget of three in a row the
    # watch survives only if the repeated body counted as an answer.
    source.script("j", RUNNING, error, error, RUNNING, error, error, RUNNING, DONE)
    policy = PollPolicy(max_consecutive_errors=3)
    async with JobWatcher(source, policy=policy) as watcher:
        job = await watcher.wait("j")
    assert job.status.value == "SUCCESS"
    assert source.decoded == 2


async def test_a_repeated_body_restarts_the_not_found_grace() -> None:
    source = ScriptedBodies()
    # Unknown for 8 s at a time, twice, with a 10 s grace: only an answer in between
    # (the same body as before) keeps the watch alive through 16 s of not-found.
    source.timeline(
        "j", (0, RUNNING), (1, not_found()), (9, RUNNING), (10, not_found()), (18, DONE)
    )
    policy = PollPolicy(interval=1, max_interval=1, jitter=0, not_found_grace=10)
    async with JobWatcher(source, policy=policy) as watcher:
        job = await watcher.wait("j")
    assert job.status.value == "SUCCESS"
    assert source.decoded == 2


async def test_repeated_bodies_grow_the_interval_as_unchanged_answers_do() -> None:
    source = ScriptedBodies()
    source.timeline("j", (0, RUNNING), (100, DONE))
    async with JobWatcher(source, policy=STEADY) as watcher:
        await watcher.wait("j")
    assert gaps(source.polls("j"))[:7] == [2.0, 3.0, 4.5, 6.75, 10.125, 15.0, 15.0]
    assert source.decoded == 2


async def test_a_repeated_body_still_times_out() -> None:
    loop = asyncio.get_running_loop()
    source = ScriptedBodies()
    source.timeline("j", (0, RUNNING))
    async with JobWatcher(source, policy=STEADY) as watcher:
        with pytest.raises(WatchTimeoutError):
            await watcher.wait("j", timeout=20)
        assert loop.time() == pytest.approx(20)
    assert source.decoded == 1


def _api_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def test_a_repeated_body_is_scheduled_by_the_job_age_learned_from() -> None:
    source = ScriptedBodies()
    start = datetime(2024, 3, 14, 10, 0, tzinfo=timezone.utc)
    history = [f"h{n}" for n in range(10)]
    for job_id in history:  # ten extends that took 100 s each
        source.timeline(
            job_id,
            (
                0,
                job_body(
                    job_id,
                    "SUCCESS",
                    job_type="extendVolume",
                    begin_time=_api_time(start),
                    end_time=_api_time(start + timedelta(seconds=100)),
                ),
            ),
        )
    # An extend that began 95 s ago by the wall clock: by that history it is about to end,
    # so it is polled about every PollPolicy.latency (4.2 s by default), each poll judged
    # by its age then, not on the growing interval (2, 3, 4.5, 6.75 s) of an unknown type.
    began = datetime.now(timezone.utc) - timedelta(seconds=95)
    source.timeline(
        "j", (0, job_body("j", "RUNNING", job_type="extendVolume", begin_time=_api_time(began)))
    )
    learning = PollPolicy(interval=2, max_interval=15, jitter=0)  # latency: its default
    async with JobWatcher(source, policy=learning) as watcher:
        await watcher.wait_all(history)
        handle = watcher.watch("j")
        await asyncio.sleep(21)
        handle.cancel()
    polls = source.polls("j")
    assert len(polls) == 5
    steady = gaps(polls)
    assert steady == pytest.approx([steady[0]] * 4, abs=0.01)  # the age is wall-clock time
    assert 2.1 <= steady[0] <= 5.0
    assert source.decoded == 11
