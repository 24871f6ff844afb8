"""RedisStore's calls to Redis per poll under a rate limit, counted at the client.

A fleet under a tight ``rate_limit`` polls sparsely, and nearly every poll ends a job:
each ending is recorded (a ``batch`` call) and read by every replica from the fleet's
log (an ``XREAD``). Without sharing, that is one call per poll and one read per replica
per ending; the batch window and the listener's gap between reads make polls share
them. Counted here are the commands the replicas' clients send, whatever sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from evs_job_watch import EvsJobClient, JobWatcher, PollPolicy, TokenAuth
from evs_job_watch.redis import RedisServer, RedisStore
from evs_job_watch.redis._listen import READ_GAP
from evs_job_watch.redis._pace import BATCH_WINDOW, LONGEST_WINDOW, FleetPace
from evs_job_watch.simulator import EvsSimulator

from .redis_fleet import GUARD

RATE = 40.0
JOBS = 120  # three seconds of polls at the rate


class _Notes:
    replica = "r1"

    def note(self, message: dict[str, Any]) -> None:
        raise AssertionError("nothing to tell")


def test_the_batch_window_is_four_requests_at_the_share_within_bounds() -> None:
    assert FleetPace(_Notes(), None).window() == BATCH_WINDOW  # no limit: the short one
    pace = FleetPace(_Notes(), 40.0)
    assert pace.window() == BATCH_WINDOW  # no share yet
    for share, window in ((40.0, 0.1), (13.5, 4 / 13.5), (200.0, BATCH_WINDOW), (2.0, 0.4)):
        pace.granted(share)
        assert pace.window() == pytest.approx(window), share
    assert LONGEST_WINDOW == 0.4


class Counting(aioredis.Redis):
    """A client that counts the commands it sends, by name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: Counter[str] = Counter()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands[str(args[0]).upper()] += 1
        return await super().execute_command(*args, **options)


async def test_a_rate_limited_fleet_makes_fewer_calls_than_polls(
    redis_server: RedisServer, namespace: str
) -> None:
    # Each job ends at its first poll (the dear end: every poll records an ending).
    policy = PollPolicy(interval=0.05, max_interval=0.2, latency=None)
    clients = [Counting.from_url(redis_server.url) for _ in range(3)]
    async with EvsSimulator(speed=1, seed=12) as sim, contextlib.AsyncExitStack() as stack:
        jobs = [sim.add_job(timeline=[(0, "SUCCESS")]) for _ in range(JOBS)]
        watchers = []
        for n, client in enumerate(clients):
            stack.push_async_callback(client.aclose)
            session = await stack.enter_async_context(aiohttp.ClientSession())
            evs = await stack.enter_async_context(
                EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token),
                             session=session)
            )  # fmt: skip
            store = RedisStore(client, namespace=namespace, replica=f"r{n}")
            watcher = JobWatcher(evs, policy=policy, rate_limit=RATE, store=store)
            watchers.append(await stack.enter_async_context(watcher))
        loop = asyncio.get_running_loop()
        before, started = sum((c.commands for c in clients), Counter()), loop.time()
        for n, job in enumerate(jobs):
            watchers[n % 3].watch(job)
        await asyncio.wait_for(watchers[0].wait_all(jobs), GUARD)
        commands = sum((c.commands for c in clients), Counter()) - before
        took = loop.time() - started
        polls = sum(w.stats.polls for w in watchers)
    assert polls >= JOBS
    # The records of several polls share a script call (measured: about one per three
    # polls; without the window, more than one per poll).
    assert commands["EVALSHA"] <= 0.6 * polls, (commands, polls)
    # Each replica reads the log at most once per gap while news comes, plus the read
    # under way at each end; not once per ending (a busy machine only stretches ``took``,
    # and with it the bound). Measured: 37 reads in 3 s; without the gap, 96.
    assert commands["XREAD"] <= 3 * (took / READ_GAP + 2), (commands, took)
    assert sum(commands.values()) <= polls, (commands, polls)
