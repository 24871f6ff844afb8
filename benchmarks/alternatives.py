"""Against what users would pick instead: the watcher with its default policy, against a
hand-written `while True: get; sleep(interval)` task per job sharing one session, and
against the synchronous Huawei SDK's `ShowJob` called from asyncio's default thread pool.

Each contender watches the same job set until every job has ended: a fresh simulator
process of the same seed per contender, the same jobs created in the same order, so
every job has the same timeline (a mix of creates, 3-disk batches, extends and
deletes; 10% fail). Figures: polls per client CPU-second, requests per job, and wall
time until every job was seen ending. The simulator's clock runs `speed` times fast;
the fixed loops sleep 2 simulated seconds (the default policy's first interval) and the
watcher's default `PollPolicy` is scaled by the same factor. The SDK signs with AK/SK,
so it is compared with the watcher using `AkSkAuth`. Polls per CPU-second divides
per-job costs (first sight, events, endings) by the polls made, so a policy that polls
less scores lower on it; "watcher-fixed" (the watcher on the loop's fixed 2 s) and the
CPU-seconds to see every job end show the two effects apart.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from evs_job_watch import AkSkAuth, EvsJobClient, JobWatcher, PollPolicy, TokenAuth

from ._common import (
    Figure,
    Simulator,
    cpu_clock,
    create_jobs,
    fixed,
    log,
    run,
    scaled,
    simulator,
    since,
)

FIXED_INTERVAL = 2.0  # simulated seconds
TERMINAL = ("SUCCESS", "FAIL")
SEED = 7


async def with_watcher(sim: Simulator, ids: list[str], auth: str) -> int:
    """Watch every job with the library's defaults; the requests made.

    `auth`: "token", "aksk", or "fixed" (token, and the loop's fixed interval).
    """
    credentials = (
        AkSkAuth(sim.access_key, sim.secret_key) if auth == "aksk" else TokenAuth(sim.token)
    )
    policy = fixed(FIXED_INTERVAL) if auth == "fixed" else PollPolicy()
    async with (
        EvsJobClient(sim.endpoint, sim.project_id, auth=credentials) as client,
        JobWatcher(client, policy=scaled(policy, sim.speed)) as watcher,
    ):
        await watcher.wait_all(ids, return_exceptions=True)
        return watcher.stats.polls


async def with_hand_written(sim: Simulator, ids: list[str]) -> int:
    """One `while True: get; sleep` task per job, sharing one session."""
    requests = 0
    interval = FIXED_INTERVAL / sim.speed

    async def follow(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal requests
        while True:
            requests += 1
            async with session.get(url, headers=sim.headers) as response:
                job = orjson.loads(await response.read())
            if job["status"] in TERMINAL:
                return
            await asyncio.sleep(interval)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(follow(session, sim.job_url(job_id)) for job_id in ids))
    return requests


async def with_sdk(sim: Simulator, ids: list[str]) -> int:
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
                return
            await asyncio.sleep(interval)

    await asyncio.gather(*(follow(job_id) for job_id in ids))
    return requests


async def _one(name: str, speed: float, jobs: int) -> dict[str, float]:
    async with simulator(speed, seed=SEED, failure_rate=0.1) as sim:
        ids = await create_jobs(sim, jobs, mix=True)
        start = cpu_clock()
        if name == "sdk":
            requests = await with_sdk(sim, ids)
        elif name == "hand-written":
            requests = await with_hand_written(sim, ids)
        else:
            requests = await with_watcher(sim, ids, name.rpartition("-")[2])
        wall, cpu = since(start)
    return {"requests": requests, "wall": wall * speed, "cpu": cpu, "jobs": len(ids)}


def _sdk_available() -> bool:
    try:
        import huaweicloudsdkevs  # noqa: F401
    except ImportError:
        return False
    return True


def measure(quick: bool) -> list[Figure]:
    speed, jobs = (20.0, 60) if quick else (10.0, 200)
    names = ["watcher-token", "hand-written", "watcher-fixed", "watcher-aksk"]
    if _sdk_available():
        names.append("sdk")
    else:
        log("alternatives: huaweicloudsdkevs not installed, no SDK comparison")
    results = {}
    for name in names:
        log(f"alternatives: {name}, {jobs} jobs at speed {speed:g}")
        results[name] = run(_one(name, speed, jobs))
    figures: list[Figure] = []
    pairs = [("watcher-token", "hand-written", 0.95), ("watcher-fixed", "hand-written", None)]
    if "sdk" in results:
        pairs.append(("watcher-aksk", "sdk", 10.0))
    for mine, theirs, target in pairs:
        a, b = results[mine], results[theirs]
        section = f"vs {theirs}"
        figures += [
            Figure(
                section,
                f"{mine} polls per CPU-second",
                a["requests"] / a["cpu"],
                "polls/CPU-s",
                theirs,
                b["requests"] / b["cpu"],
                None if target is None else ("ratio", ">=", target),
            ),
            Figure(
                section,
                f"{mine} CPU-seconds to see every job end",
                a["cpu"],
                "CPU s",
                theirs,
                b["cpu"],
            ),
            Figure(
                section,
                f"{mine} requests per job",
                a["requests"] / a["jobs"],
                "requests",
                theirs,
                b["requests"] / b["jobs"],
                None if mine == "watcher-fixed" else ("ratio", "<", 1.0),
            ),
            Figure(
                section,
                f"{mine} time to see every job end",
                a["wall"],
                "sim s",
                theirs,
                b["wall"],
                extra={"speed": speed, "jobs": a["jobs"]},
            ),
        ]
    return figures
