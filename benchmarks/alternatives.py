"""Against what users would pick instead: the watcher with its default policy, against a
hand-written `while True: get; sleep(interval)` task per job sharing one session, and
against the synchronous Huawei SDK's `ShowJob` called from asyncio's default thread pool.

Each contender watches the same job set until every job has ended: a fresh simulator
process of the same seed per contender, the same jobs created in the same order, so
every job has the same timeline (a mix of creates, 3-disk batches, extends and
deletes; 10% fail). Figures: client CPU-seconds to see every job end (the figure users
pay for), requests per job, polls per client CPU-second, detection latency (p50 and
p95, from a job's `end_time` to the moment the contender saw it end, in simulated
seconds; the simulator's times are wall times) and wall time until every job was seen
ending. The simulator's clock runs `speed` times fast; the fixed loops sleep 2 simulated
seconds (the default policy's first interval) and the watcher's default `PollPolicy` is
scaled by the same factor. The SDK signs with AK/SK, so it is compared with the watcher
using `AkSkAuth`. Polls per CPU-second divides per-job costs (first sight, events,
endings) by the polls made, so a policy that polls less scores lower on it;
"watcher-fixed" (the watcher on the loop's fixed 2 s) shows the cost of the watcher
apart from its policy's. Rounds alternate the contenders, so the machine's other work
falls on all alike; each figure is the median over the rounds, with the spread kept.

The watcher runs what users run: the default `PollPolicy` (learned schedule on), sped up
with the simulator's clock (`sped_up`: the schedule weighs `latency` against the
default's 4.2 s, so that anchor is scaled too, else a scaled default reads as a small
latency and polls densely). Beside
the simulator rows, "fast-watcher" and "fast-hand-written" watch the same number of jobs
on the minimal fast reference server (`fastserver.py`, its own process: pre-built bodies,
seeded log-normal durations of median 20 simulated s, one in ten failing), where what a
client pays per request is not hidden behind a slow server. Every pair also reports
client CPU per job and per request for both sides.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from evs_job_watch import AkSkAuth, EvsJobClient, JobEvent, JobWatcher, PollPolicy, TokenAuth

from ._common import (
    Figure,
    Simulator,
    cpu_clock,
    create_jobs,
    fast_server,
    fixed,
    log,
    percentile,
    run,
    scaled,
    simulator,
    since,
    sped_up,
)
from .fastserver import job_ids

FIXED_INTERVAL = 2.0  # simulated seconds
TERMINAL = ("SUCCESS", "FAIL")
SEED = 7


def _late(end_time: str | datetime | None) -> float:
    """Seconds from a job's end (an API time, or a datetime) to now, by the wall clock."""
    if isinstance(end_time, str):
        end_time = datetime.fromisoformat(end_time.replace("Z", "+00:00"))
    return time.time() - end_time.timestamp() if end_time else float("nan")


async def with_watcher(
    sim: Simulator, ids: list[str], auth: str, late: list[float] | None = None
) -> int:
    """Watch every job with the library's defaults; the requests made.

    `auth`: "token", "aksk", or "fixed" (token, and the loop's fixed interval). `late`
    collects each job's detection latency (a callback per job, as a service would have).
    """
    credentials = (
        AkSkAuth(sim.access_key, sim.secret_key) if auth == "aksk" else TokenAuth(sim.token)
    )
    policy = fixed(FIXED_INTERVAL) if auth == "fixed" else PollPolicy()
    seen = late if late is not None else []

    def ended(event: JobEvent) -> None:
        if event.parent is None:
            seen.append(_late(event.job.end_time))

    with sped_up(sim.speed):  # the default policy sped up, not a smaller latency
        async with (
            EvsJobClient(sim.endpoint, sim.project_id, auth=credentials) as client,
            JobWatcher(
                client, policy=scaled(policy, sim.speed), on_complete=ended, on_fail=ended
            ) as watcher,
        ):
            await watcher.wait_all(ids, return_exceptions=True)
            return watcher.stats.polls


async def with_hand_written(sim: Simulator, ids: list[str], late: list[float] | None = None) -> int:
    """One `while True: get; sleep` task per job, sharing one session."""
    requests = 0
    interval = FIXED_INTERVAL / sim.speed
    seen = late if late is not None else []

    async def follow(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal requests
        while True:
            requests += 1
            async with session.get(url, headers=sim.headers) as response:
                job = orjson.loads(await response.read())
            if job["status"] in TERMINAL:
                seen.append(_late(job["end_time"]))
                return
            await asyncio.sleep(interval)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(follow(session, sim.job_url(job_id)) for job_id in ids))
    return requests


async def with_sdk(sim: Simulator, ids: list[str], late: list[float]) -> int:
    """The Huawei SDK's ShowJob in asyncio's default thread pool, one task per job."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkevs.v2 import EvsClient, ShowJobRequest

    credentials = BasicCredentials(sim.access_key, sim.secret_key, sim.project_id)
    # The builder keeps an endpoint that starts with "http" as it is, so plain http works.
    client = EvsClient.new_builder().with_credentials(credentials).with_endpoint(sim.endpoint)
    client = client.build()
    requests = 0
    interval = FIXED_INTERVAL / sim.speed

    async def follow(job_id: str) -> None:
        nonlocal requests
        while True:
            requests += 1
            job: Any = await asyncio.to_thread(client.show_job, ShowJobRequest(job_id=job_id))
            if job.status in TERMINAL:
                late.append(_late(job.end_time))
                return
            await asyncio.sleep(interval)

    await asyncio.gather(*(follow(job_id) for job_id in ids))
    return requests


async def _one(name: str, speed: float, jobs: int) -> dict[str, Any]:
    if name.startswith("fast-"):
        async with fast_server(jobs, durations_seed=SEED, speed=speed) as sim:
            return await _watch(name.removeprefix("fast-"), sim, job_ids(jobs), speed)
    async with simulator(speed, seed=SEED, failure_rate=0.1) as sim:
        return await _watch(name, sim, await create_jobs(sim, jobs, mix=True), speed)


async def _watch(name: str, sim: Simulator, ids: list[str], speed: float) -> dict[str, Any]:
    late: list[float] = []
    start = cpu_clock()
    if name == "sdk":
        requests = await with_sdk(sim, ids, late)
    elif name == "hand-written":
        requests = await with_hand_written(sim, ids, late)
    else:
        requests = await with_watcher(sim, ids, name.rpartition("-")[2], late)
    wall, cpu = since(start)
    return {
        "requests": requests,
        "wall": wall * speed,
        "cpu": cpu,
        "jobs": len(ids),
        "late_p50": percentile(late, 0.5) * speed,
        "late_p95": percentile(late, 0.95) * speed,
    }


def _sdk_available() -> bool:
    try:
        import huaweicloudsdkevs  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(
    mine: str,
    theirs: str,
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    what: tuple[str, str, str],
    target: tuple[str, float] | None,
) -> Figure:
    """The median over the rounds of `key` for `mine` beside `theirs`, rounds kept."""
    name, key, unit = what
    return Figure(
        f"vs {theirs}",
        f"{mine} {name}",
        statistics.median(x[key] for x in a),
        unit,
        theirs,
        statistics.median(y[key] for y in b),
        None if target is None else ("ratio", *target),
        extra={
            "rounds": [x[key] for x in a],
            "ref_rounds": [y[key] for y in b],
            "round_ratios": [x[key] / y[key] for x, y in zip(a, b, strict=True)],
            "jobs": a[0]["jobs"],
        },
    )


def measure(quick: bool) -> list[Figure]:
    speed, jobs, rounds = (20.0, 60, 1) if quick else (10.0, 200, 3)
    names = ["watcher-token", "hand-written", "fast-watcher-token", "fast-hand-written"]
    names += ["watcher-fixed", "watcher-aksk"]
    if _sdk_available():
        names.append("sdk")
    else:
        log("alternatives: huaweicloudsdkevs not installed, no SDK comparison")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names:
            log(f"alternatives: round {round_ + 1}, {name}, {jobs} jobs at speed {speed:g}")
            done = run(_one(name, speed, jobs))
            done["requests_per_job"] = done["requests"] / done["jobs"]
            done["polls_per_cpu_s"] = done["requests"] / done["cpu"]
            done["cpu_per_job"] = done["cpu"] / done["jobs"] * 1e3
            done["cpu_per_request"] = done["cpu"] / done["requests"] * 1e6
            runs[name].append(done)
    # (contender, reference, targets on the ratio: CPU-seconds, requests, latency)
    pairs: list[tuple[str, str, float | None, float | None, float | None]] = [
        ("watcher-token", "hand-written", 0.75, 0.6, 1.0),
        ("fast-watcher-token", "fast-hand-written", 0.75, 0.6, None),
        ("watcher-fixed", "hand-written", None, None, None),
    ]
    if "sdk" in runs:
        pairs.append(("watcher-aksk", "sdk", 0.1, 1.0, None))
    figures: list[Figure] = []
    for mine, theirs, cpu, requests, late in pairs:
        a, b = runs[mine], runs[theirs]
        figures += [
            _figure(
                mine,
                theirs,
                a,
                b,
                ("CPU-seconds to see every job end", "cpu", "CPU s"),
                None if cpu is None else ("<=", cpu),
            ),
            _figure(
                mine,
                theirs,
                a,
                b,
                ("requests per job", "requests_per_job", "requests"),
                None if requests is None else ("<=", requests),
            ),
            _figure(
                mine,
                theirs,
                a,
                b,
                ("detection latency p50", "late_p50", "sim s"),
                None if late is None else ("<=", late),
            ),
            _figure(
                mine,
                theirs,
                a,
                b,
                ("detection latency p95", "late_p95", "sim s"),
                None if late is None else ("<=", late),
            ),
            _figure(
                mine, theirs, a, b, ("polls per CPU-second", "polls_per_cpu_s", "polls/CPU-s"), None
            ),
            _figure(mine, theirs, a, b, ("time to see every job end", "wall", "sim s"), None),
            _figure(mine, theirs, a, b, ("CPU per job", "cpu_per_job", "ms"), None),
            _figure(mine, theirs, a, b, ("CPU per request", "cpu_per_request", "µs"), None),
        ]
    return figures
