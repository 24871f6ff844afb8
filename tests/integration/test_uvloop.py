"""The watcher on uvloop, whose timer handles differ from asyncio's.

uvloop answers ``call_at`` for a time less than half a millisecond away with a plain
``Handle`` (no ``when()``): these tests make many polls due within a millisecond of each
other, against a scripted source that answers at once and against the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from evs_job_watch import JobWatcher, PollPolicy
from evs_job_watch.simulator import EvsSimulator

from ..scripted import ScriptedClient, make_job
from .test_against_simulator import SPEED, watch_all
from .truth import assert_matches_truth, create_mix

# Polls as close together as the loop allows: due times a fraction of a millisecond apart.
CLOSE = PollPolicy(
    interval=0.0002, max_interval=0.0002, jitter=0.0, latency=None, max_consecutive_errors=50
)


def on_uvloop(main: Callable[[], Awaitable[None]]) -> None:
    """Run ``main`` on a uvloop loop; no task may die with an error nobody awaited."""

    async def checked() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        await main()

    errors: list[dict[str, Any]] = []
    loop = uvloop.new_event_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        loop.run_until_complete(checked())
    finally:
        loop.close()
    assert errors == []


def test_watches_due_within_a_millisecond_of_each_other_all_end_on_uvloop() -> None:
    client = ScriptedClient()  # answers without waiting: many answers in one loop step
    job_ids = [f"job-{n}" for n in range(40)]
    for job_id in job_ids:
        client.script(job_id, *[make_job(job_id, "RUNNING")] * 20, make_job(job_id, "SUCCESS"))

    async def main() -> None:
        async with JobWatcher(client, policy=CLOSE) as watcher:
            jobs = await asyncio.wait_for(watcher.wait_all(job_ids), 30)
        assert [job.status.value for job in jobs] == ["SUCCESS"] * len(job_ids)
        assert len(client.calls) == 21 * len(job_ids)

    on_uvloop(main)


def test_a_mix_is_reported_exactly_as_the_ground_truth_on_uvloop() -> None:
    async def main() -> None:
        async with EvsSimulator(speed=SPEED, seed=5, failure_rate=0.3) as sim:
            job_ids = create_mix(sim, 12)
            results, recorder, stats = await watch_all(sim, job_ids, policy=CLOSE)
        assert_matches_truth(sim, job_ids, results, recorder)
        assert stats.polls > 10 * len(job_ids)  # the close due times really were many

    on_uvloop(main)
