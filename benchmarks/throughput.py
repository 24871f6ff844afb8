"""Throughput against the limit: the watcher's polls/s and client CPU µs per poll,
against a bare aiohttp loop doing the same GET + orjson decode at the same concurrency.

The watcher runs what users run: the default `PollPolicy` with its learned schedule on
(`latency` 4.2 s), its intervals shrunk to 1e-4 s so that it polls flat out (a learned
delay is capped at `max_interval`, so every answer is still learned from and a delay
decided). A second watcher row, "learning off" (`latency=None`), splits the learned
schedule's share from the rest of the watcher's.

Two servers, each in a process of its own: the simulator (1,000 jobs that never end: its
clock runs at 1e-6 speed, so every job stays in INIT), and a minimal fast reference
server (`fastserver.py`: a plain aiohttp app answering 1,000 pre-built RUNNING bodies),
against which a client's own cost per request shows (the simulator is slow enough that
the bare loop wakes for every answer). All contenders share one session of the same
connector limit. The watcher polls with `max_concurrency` 100; the bare loop is 100
worker coroutines taking job ids round-robin. A further contender, the same 100 workers
calling `EvsJobClient.get_job`, splits the watcher's overhead into the client's part and
the scheduler's. Rounds alternate the contenders so the machine's noise hits all alike;
totals over the rounds give the figures.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from evs_job_watch import EvsJobClient, JobWatcher, PollPolicy, TokenAuth

from . import fastserver
from ._common import (
    Figure,
    Simulator,
    cpu_clock,
    create_jobs,
    fast_server,
    fixed,
    log,
    run,
    simulator,
    since,
)

CONCURRENCY = 100
JOBS = 1000
# The default policy (learning on, jitter on) with tiny intervals: a job is due again
# as soon as it is answered, and every answer goes through the learned schedule.
FLAT_OUT = PollPolicy(interval=1e-4, max_interval=1e-4)
# Tiny, positive, no growth and no jitter, and no schedule learned.
FLAT_OUT_FIXED = fixed(1e-4)


def session(limit: int = CONCURRENCY) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))


class _Tally:
    """What the workers share: the polls made, and when to stop."""

    polls = 0
    stop = False


async def _workers(
    worker: Callable[[_Tally], Awaitable[None]], warmup: float, seconds: float
) -> tuple[int, float, float]:
    """(polls, wall s, CPU s) of 100 copies of `worker`, after a warm-up.

    Each worker loops on its own (no call per poll beyond its request), so the
    harness adds nothing to the cost being measured.
    """
    tally = _Tally()
    workers = [asyncio.create_task(worker(tally)) for _ in range(CONCURRENCY)]
    await asyncio.sleep(warmup)
    first, start = tally.polls, cpu_clock()
    await asyncio.sleep(seconds)
    wall, cpu = since(start)
    counted = tally.polls - first
    tally.stop = True
    await asyncio.gather(*workers)
    return counted, wall, cpu


async def bare_loop(
    sim: Simulator, http: aiohttp.ClientSession, ids: list[str], warmup: float, seconds: float
) -> tuple[int, float, float]:
    """100 workers doing GET + orjson.loads."""
    urls = itertools.cycle([sim.job_url(job_id) for job_id in ids])
    headers = sim.headers

    async def worker(tally: _Tally) -> None:
        while not tally.stop:
            async with http.get(next(urls), headers=headers) as response:
                body = await response.read()
            orjson.loads(body)
            tally.polls += 1

    return await _workers(worker, warmup, seconds)


async def client_loop(
    sim: Simulator, http: aiohttp.ClientSession, ids: list[str], warmup: float, seconds: float
) -> tuple[int, float, float]:
    """100 workers calling EvsJobClient.get_job."""
    client = EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token), session=http)
    jobs = itertools.cycle(ids)

    async def worker(tally: _Tally) -> None:
        while not tally.stop:
            await client.get_job(next(jobs))
            tally.polls += 1

    return await _workers(worker, warmup, seconds)


async def watcher_loop(
    sim: Simulator,
    http: aiohttp.ClientSession,
    ids: list[str],
    warmup: float,
    seconds: float,
    source: Any = None,
    policy: PollPolicy = FLAT_OUT,
) -> tuple[int, float, float]:
    """(polls, wall s, CPU s) of a JobWatcher polling every job flat out, after a warm-up."""
    client = source or EvsJobClient(
        sim.endpoint, sim.project_id, auth=TokenAuth(sim.token), session=http
    )
    async with JobWatcher(client, policy=policy, max_concurrency=CONCURRENCY) as watcher:
        for job_id in ids:
            watcher.watch(job_id)
        await asyncio.sleep(warmup)
        first, start = watcher.stats.polls, cpu_clock()
        await asyncio.sleep(seconds)
        wall, cpu = since(start)
        return watcher.stats.polls - first, wall, cpu


async def fixed_loop(
    sim: Simulator, http: aiohttp.ClientSession, ids: list[str], warmup: float, seconds: float
) -> tuple[int, float, float]:
    """The watcher with its learned schedule off (`latency=None`)."""
    return await watcher_loop(sim, http, ids, warmup, seconds, policy=FLAT_OUT_FIXED)


CONTENDERS = {"bare": bare_loop, "client": client_loop, "watcher": watcher_loop}
CONTENDERS["fixed"] = fixed_loop


@asynccontextmanager
async def _server(kind: str) -> AsyncIterator[tuple[Simulator, list[str]]]:
    if kind == "fast":
        async with fast_server(JOBS) as sim:
            yield sim, fastserver.job_ids(JOBS)
        return
    async with simulator(1e-6) as sim:
        yield sim, await create_jobs(sim, JOBS, concurrency=20)


async def _measure(rounds: int, seconds: float, kind: str) -> dict[str, tuple[float, ...]]:
    async with _server(kind) as (sim, ids):
        # polls, wall s, client CPU s; then wall s and server CPU s, warm-up included
        totals = {name: [0, 0.0, 0.0, 0.0, 0.0] for name in CONTENDERS}
        async with session() as http:
            for _ in range(rounds):
                for name, loop in CONTENDERS.items():
                    server, start = sim.cpu(), time.perf_counter()
                    got = await loop(sim, http, ids, min(1.0, seconds / 3), seconds)
                    got += (time.perf_counter() - start, sim.cpu() - server)
                    for index, value in enumerate(got):
                        totals[name][index] += value
        return {name: tuple(t) for name, t in totals.items()}


SERVERS = {"simulator": "", "fast": " fast server"}


def measure(quick: bool) -> tuple[list[Figure], dict[str, float]]:
    """The figures for each loop kind available and each server, and the watcher's
    polls/s against the simulator on asyncio."""
    rounds, seconds = (2, 1.5) if quick else (3, 6.0)
    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError:
        log("throughput: uvloop not installed, asyncio only")
    figures: list[Figure] = []
    rates: dict[str, float] = {}
    for loop in loops:
        for kind, label in SERVERS.items():
            log(f"throughput: {rounds} rounds of {seconds:g} s of each contender, {kind}, {loop}")
            totals = run(_measure(rounds, seconds, kind), loop)
            figures += _figures(f"throughput{label} ({loop})", totals, loop)
            if kind == "simulator":
                rates[loop] = totals["watcher"][0] / totals["watcher"][1]
                rates[f"{loop}-bare"] = totals["bare"][0] / totals["bare"][1]
            else:
                rates[f"{loop}-fast"] = totals["watcher"][0] / totals["watcher"][1]
                rates[f"{loop}-fast-bare"] = totals["bare"][0] / totals["bare"][1]
    return figures, rates


def _figures(section: str, totals: dict[str, tuple[float, ...]], loop: str) -> list[Figure]:
    b_polls, b_wall, b_cpu, b_span, b_server = totals["bare"]
    for name, (_, wall, cpu, _, _) in totals.items():
        if cpu / wall < 0.85:
            log(f"{section}: {name} got {cpu / wall:.2f} of a core: the machine is busy")
    figures = []
    for name, what in (("watcher", "watcher (default policy)"), ("fixed", "watcher, learning off")):
        w_polls, w_wall, w_cpu, w_span, w_server = totals[name]
        default = name == "watcher"
        figures += [
            Figure(
                section,
                f"{what} polls/s",
                w_polls / w_wall,
                "polls/s",
                "bare aiohttp loop",
                b_polls / b_wall,
                ("ratio", ">=", 0.95) if default else None,
                # Below ~0.9 of a core the client was not the bottleneck (or was preempted):
                # then polls/s says less than CPU per poll.
                extra={
                    "watcher_cpu_share": w_cpu / w_wall,
                    "bare_cpu_share": b_cpu / b_wall,
                    "watcher_server_cpu_share": w_server / w_span,
                    "bare_server_cpu_share": b_server / b_span,
                },
            ),
            Figure(
                section,
                f"{what} CPU per poll",
                w_cpu / w_polls * 1e6,
                "µs",
                "bare aiohttp loop",
                b_cpu / b_polls * 1e6,
                ("ratio", "<=", 1.05) if default else None,
            ),
        ]
    c_polls, c_wall, c_cpu, _, _ = totals["client"]
    figures.append(
        Figure(
            section,
            "EvsJobClient.get_job loop CPU per poll",
            c_cpu / c_polls * 1e6,
            "µs",
            "bare aiohttp loop",
            b_cpu / b_polls * 1e6,
            note="no scheduler: the client's share of the watcher's overhead",
            extra={"polls_per_s": c_polls / c_wall},
        )
    )
    return figures
