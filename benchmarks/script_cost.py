"""Redis's time in the fleet script over a fixed workload, for comparing key layouts.

`python benchmarks/script_cost.py [--rounds N]` (run as a file, so that ``PYTHONPATH``
decides which library it measures: a tree from ``git archive <commit>`` measures that
commit's ``fleet.lua``). Three replicas' links (``Link``, no watcher, no simulator: the
same calls every round) on a private redis-server: 1,000 watches added in batches of
100, claim cycles until all are owned, three records of each watch's status, then an
ending of each, and a last claim cycle. Prints, per round, the microseconds Redis spent
in the script (``INFO commandstats``: ``evalsha`` and ``eval``), and the number of keys
the layout declares.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import redis
import redis.asyncio as aioredis

from evs_job_watch.redis import RedisServer
from evs_job_watch.redis._link import NAMES, Link
from evs_job_watch.redis._wire import batch_items

LEASE = 10_000_000  # us
KEEP = 3_600_000  # ms
JOBS = 1000


async def _workload(url: str, namespace: str) -> None:
    client = aioredis.Redis.from_url(url)
    links = [Link(client, namespace, f"r{n}") for n in range(3)]
    for link in links:
        await link.hello()
        await link.run("claim", LEASE, 500, "0", 0, -1)
    jobs = [f"{n:032x}" for n in range(JOBS)]
    for start in range(0, JOBS, 100):
        items = [
            {"a": "add", "j": job, "s": "", "u": "{}", "h": 1, "o": 0}
            for job in jobs[start : start + 100]
        ]
        await links[(start // 100) % 3].run("batch", LEASE, KEEP, batch_items(items))
    for rate in ("0", "0", "0", "40", "40", "40"):
        for link in links:
            await link.run("claim", LEASE, 500, rate, 0, -1)
    for before, after in (("", "INIT"), ("INIT", "RUNNING"), ("RUNNING", "SUCCESS")):
        for start in range(0, JOBS, 50):
            items = [
                {"a": "rec", "j": job, "b": "", "p": before, "s": after, "m": "{}"}
                for job in jobs[start : start + 50]
            ]
            for link in links:  # one records it; the others find it done already
                await link.run("batch", LEASE, KEEP, batch_items(items))
    for start in range(0, JOBS, 50):
        items = [
            {"a": "end", "j": job, "t": "{}", "m": "{}", "f": 1} for job in jobs[start : start + 50]
        ]
        await links[(start // 50) % 3].run("batch", LEASE, KEEP, batch_items(items))
    for link in links:
        await link.run("claim", LEASE, 500, "0", 0, -1)
    await client.aclose()


async def _main(rounds: int) -> None:
    with RedisServer() as server:
        direct = redis.Redis.from_url(server.url)
        spent = []
        for n in range(rounds):
            direct.config_resetstat()
            await _workload(server.url, f"cost{n}")
            stats = direct.info("commandstats")
            spent.append(
                sum(v["usec"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
            )
        direct.close()
    print(json.dumps({"keys": len(NAMES), "usec": spent}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(_main(parser.parse_args().rounds))
