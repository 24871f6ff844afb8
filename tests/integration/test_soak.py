"""The fault soak: a thousand jobs against a flaky, throttling simulator, judged by ground truth.

About a fifth of the job queries get a 5xx, 5% a 429 (half of them with Retry-After),
2% a truncated or non-JSON body, 1% a dropped connection; every query has a little
latency, and new jobs answer not-found for a while. Jobs are created in waves while
the earlier ones are watched, as a busy service would. Afterwards every job and
sub-job must have ended exactly once with its true outcome, its statuses reported in
true order, the requests in flight must have stayed within the limit, and nothing may
outlive the watcher.

`EVS_SOAK_JOBS=10000 pytest tests/integration/test_soak.py` runs the long variant.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections import defaultdict

import aiohttp
import pytest

from evs_job_watch import (
    EvsJobClient,
    EvsJobWatchError,
    JobHandle,
    JobWatcher,
    PollPolicy,
    TokenAuth,
    WatcherClosedError,
)
from evs_job_watch.simulator import EvsSimulator, Faults

from .truth import (
    CountedSource,
    Recorder,
    assert_matches_truth,
    create_mix,
    fault_count,
    result_matches,
)

SOAK_JOBS = int(os.environ.get("EVS_SOAK_JOBS", "1000"))
WAVE = 100  # jobs created at a time
WAVE_GAP = 0.25  # loop seconds between waves
MAX_CONCURRENCY = 16  # low enough that the load reaches it, so the bound is exercised

# 20 simulated seconds per loop second: a single disk job takes about 0.5 s of loop time
# and a batch about 1.5 s, a few polls each at these intervals.
SPEED = 20.0
FAULTS = Faults(
    server_error=0.20,
    throttle=0.05,
    retry_after_share=0.5,
    retry_after=0.02,
    truncated=0.01,
    non_json=0.01,
    drop=0.01,
    latency=(0.0, 0.02),
)
# Simulated seconds a new job answers not-found: 0.3 loop seconds, so that a busy machine
# still polls some new jobs before they show (the test checks the 400s happened).
INVISIBLE_FOR = 6.0
POLICY = PollPolicy(
    interval=0.05,
    max_interval=0.2,
    multiplier=1.5,
    jitter=0.2,
    # Generous: 28% of queries fail, so runs of errors happen, but the error budget is
    # not what the soak is about; a watch must never give up here.
    max_consecutive_errors=60,
    not_found_grace=10.0,
    # The growing interval, not the learned schedule (which polls these sub-second jobs
    # at max_interval): the load must reach max_concurrency, and learning is not what
    # the soak is about either.
    latency=None,
)


async def outcome_of(handle: JobHandle) -> object:
    try:
        return await handle
    except EvsJobWatchError as exc:
        return exc


def library_tasks() -> list[asyncio.Task[object]]:
    """Running tasks whose coroutine is the library's own (not the simulator's server)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        filename = "" if code is None else code.co_filename
        if "evs_job_watch" in filename and "simulator" not in filename:
            found.append(task)
    return found


def open_sessions() -> list[aiohttp.ClientSession]:
    return [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed]


async def test_soak_every_job_ends_once_with_its_true_outcome_under_faults() -> None:
    jobs = SOAK_JOBS
    # Not a measure: a normal run takes a fraction of this. Only so that a watcher that
    # stalls fails the test instead of blocking the run.
    guard = 60.0 + jobs * 0.03
    current = asyncio.current_task()
    assert open_sessions() == []
    sim = EvsSimulator(
        speed=SPEED, seed=1000, failure_rate=0.2, faults=FAULTS, invisible_for=INVISIBLE_FOR
    )
    await sim.start()
    try:
        recorder = Recorder()
        streamed: defaultdict[str, list[str]] = defaultdict(list)
        client = EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token))
        source = CountedSource(client)
        watcher = JobWatcher(
            source, policy=POLICY, max_concurrency=MAX_CONCURRENCY, **recorder.callbacks()
        )
        stream = watcher.events(max_pending=jobs * 20)

        async def consume() -> None:
            async for event in stream:
                streamed[event.job_id].append(event.status.value)

        consumer = asyncio.ensure_future(consume())
        try:
            job_ids: list[str] = []
            handles: list[JobHandle] = []
            while len(job_ids) < jobs:
                wave = create_mix(sim, min(WAVE, jobs - len(job_ids)), batch_every=5)
                job_ids += wave
                handles += [watcher.watch(job_id) for job_id in wave]
                await asyncio.sleep(WAVE_GAP)
            waiting = [asyncio.ensure_future(outcome_of(handle)) for handle in handles]
            _, late = await asyncio.wait(waiting, timeout=guard)
            if late:
                stats = watcher.stats
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
                pytest.fail(
                    f"{len(late)} of {jobs} jobs had not ended after {guard:.0f} s "
                    f"(the jobs themselves all end within seconds): {stats}"
                )
            results = [task.result() for task in waiting]
            assert watcher.watching() == frozenset()
            # Close while watches are live: a last wave still running, and ids that never
            # appear (the not-found grace is far longer than this test waits).
            last_wave = create_mix(sim, 20, batch_every=5)
            ghosts = [f"{index:032x}" for index in range(5)]
            cut_short = [watcher.watch(job_id) for job_id in last_wave + ghosts]
            for _ in range(10_000):  # close with requests in flight, if any come soon
                if sim.in_flight:
                    break
                await asyncio.sleep(0)
            sessions = open_sessions()
            assert len(sessions) == 1  # the client's own
        finally:
            await watcher.aclose()
            await client.aclose()
        closed = [await outcome_of(handle) for handle in cut_short]
        # Nothing of the watcher's outlives aclose (the simulator's server still runs).
        await consumer
        assert library_tasks() == []
    finally:
        await sim.stop()

    # Nothing leaks: no task but this one, the client's session closed.
    assert asyncio.all_tasks() == {current}
    assert all(session.closed for session in sessions)
    assert open_sessions() == []

    # Every job and sub-job ended once, with its true outcome and its statuses in order;
    # the last wave's reports, cut short by the close, were true as far as they went.
    assert_matches_truth(sim, job_ids, results, recorder, closed_early=last_wave)
    # The watches live at close ended with WatcherClosedError; a job of the last wave
    # may have ended before (a slow machine), and then with its true outcome.
    assert all(isinstance(result, WatcherClosedError) for result in closed[len(last_wave) :])
    for job_id, result in zip(last_wave, closed):
        assert isinstance(result, WatcherClosedError) or result_matches(
            job_id, sim.outcome(job_id), result
        )
    # The event stream saw exactly what the callbacks saw.
    assert stream.dropped == 0
    assert streamed == recorder.seen
    # The requests in flight stayed within the limit, and the load did reach it: the
    # watcher had a poll under way in every slot at once. (Counted where it polls: the
    # server sees fewer at once when a busy machine's client is slow to parse answers.)
    assert sim.max_in_flight <= MAX_CONCURRENCY
    assert source.most == MAX_CONCURRENCY
    # The faults of the soak really happened.
    assert len(job_ids) == jobs
    assert {sim.outcome(job_id) for job_id in job_ids} == {"SUCCESS", "FAIL"}
    for fault in ("server_error", "throttle", "truncated", "non_json", "drop"):
        assert fault_count(sim, fault) > 0, fault
    assert any(record.status == 400 for record in sim.requests)  # invisible new jobs
