"""Throughput against the limit: the watcher's polls/s and client CPU µs per poll,
against a bare aiohttp loop doing the same GET + orjson decode at the same concurrency.

Both run on the same event loop kind, against the same simulator process, over the same
1,000 jobs (which never end: the simulator's clock runs at 1e-6 speed, so every job
stays in INIT), sharing one session of the same connector limit. The watcher polls with
an interval near zero and `max_concurrency` 100; the bare loop is 100 worker coroutines
taking job ids round-robin. A third contender, the same 100 workers calling
`EvsJobClient.get_job`, splits the watcher's overhead into the client's part and the
scheduler's. Rounds alternate the contenders so the machine's noise hits all alike;
totals over the rounds give the figures.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from evs_job_watch import EvsJobClient, JobWatcher, TokenAuth

from ._common import Figure, Simulator, cpu_clock, create_jobs, fixed, log, run, simulator, since

CONCURRENCY = 100
JOBS = 1000
# Tiny, positive, no growth and no jitter: a job is due again as soon as it is answered.
FLAT_OUT = fixed(1e-4)


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
) -> tuple[int, float, float]:
    """(polls, wall s, CPU s) of a JobWatcher polling every job flat out, after a warm-up."""
    client = source or EvsJobClient(
        sim.endpoint, sim.project_id, auth=TokenAuth(sim.token), session=http
    )
    async with JobWatcher(client, policy=FLAT_OUT, max_concurrency=CONCURRENCY) as watcher:
        for job_id in ids:
            watcher.watch(job_id)
        await asyncio.sleep(warmup)
        first, start = watcher.stats.polls, cpu_clock()
        await asyncio.sleep(seconds)
        wall, cpu = since(start)
        return watcher.stats.polls - first, wall, cpu


async def _measure(rounds: int, seconds: float) -> dict[str, tuple[float, ...]]:
    async with simulator(1e-6) as sim:
        ids = await create_jobs(sim, JOBS, concurrency=20)
        contenders = {"bare": bare_loop, "client": client_loop, "watcher": watcher_loop}
        # polls, wall s, client CPU s; then wall s and simulator CPU s, warm-up included
        totals = {name: [0, 0.0, 0.0, 0.0, 0.0] for name in contenders}
        async with session() as http:
            for _ in range(rounds):
                for name, loop in contenders.items():
                    server, start = sim.cpu(), time.perf_counter()
                    got = await loop(sim, http, ids, min(1.0, seconds / 3), seconds)
                    got += (time.perf_counter() - start, sim.cpu() - server)
                    for index, value in enumerate(got):
                        totals[name][index] += value
        return {name: tuple(t) for name, t in totals.items()}


def measure(quick: bool) -> tuple[list[Figure], dict[str, float]]:
    """The figures for each loop kind available, and the watcher's polls/s on asyncio."""
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
        log(f"throughput: {rounds} rounds of {seconds:g} s of each contender, on {loop}")
        totals = run(_measure(rounds, seconds), loop)
        b_polls, b_wall, b_cpu, b_span, b_server = totals["bare"]
        w_polls, w_wall, w_cpu, w_span, w_server = totals["watcher"]
        c_polls, c_wall, c_cpu, _, _ = totals["client"]
        for name, (_, wall, cpu, _, _) in totals.items():
            if cpu / wall < 0.85:
                share = f"{cpu / wall:.2f} of a core"
                log(f"throughput: {name} on {loop} got {share}: the machine is busy")
        rates[loop] = w_polls / w_wall
        rates[f"{loop}-bare"] = b_polls / b_wall
        section = f"throughput ({loop})"
        figures += [
            Figure(
                section,
                "watcher polls/s",
                w_polls / w_wall,
                "polls/s",
                "bare aiohttp loop",
                b_polls / b_wall,
                ("ratio", ">=", 0.95),
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
                "watcher CPU per poll",
                w_cpu / w_polls * 1e6,
                "µs",
                "bare aiohttp loop",
                b_cpu / b_polls * 1e6,
                ("ratio", "<=", 1.05),
            ),
            Figure(
                section,
                "EvsJobClient.get_job loop CPU per poll",
                c_cpu / c_polls * 1e6,
                "µs",
                "bare aiohttp loop",
                b_cpu / b_polls * 1e6,
                note="no scheduler: the client's share of the watcher's overhead",
                extra={"polls_per_s": c_polls / c_wall},
            ),
        ]
    return figures, rates
