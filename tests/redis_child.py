"""One replica of ``test_redis_chaos.py``, in a process of its own so it can be killed.

Usage: ``python redis_child.py ENDPOINT PROJECT_ID REDIS_URL NAMESPACE NAME RATE LEASE``
with
the token in ``EVS_TOKEN``. Its HTTP User-Agent is NAME (the simulator's log tells the
replicas apart by it). It prints ``{"kind": "ready"}`` once its watcher is open, one
JSON line per callback, and reads commands from stdin, one per line:

* ``watch ID...``: watch these jobs;
* ``wait ID...``: wait for all of them, then print ``{"kind": "waited", "results": ...}``
  (each job's final status, or the error's class name);
* ``stop``: close the watcher cleanly and exit.

Each line is one write of a flushed buffer, so a line the parent reads was whole.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

from evs_job_watch import EvsJobClient, Job, JobEvent, JobFailedError, JobWatcher, TokenAuth
from evs_job_watch.redis import RedisStore

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.redis_fleet import POLICY


def say(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def reporter(kind: str) -> Any:
    def report(event: JobEvent) -> None:
        say({"kind": kind, "job_id": event.job_id, "status": event.status.value})

    return report


def final(result: Job | BaseException) -> str:
    if isinstance(result, Job):
        return result.status.value
    if isinstance(result, JobFailedError):
        return result.job.status.value
    return type(result).__name__


async def main(
    endpoint: str, project: str, url: str, namespace: str, name: str, rate: str, lease: str
) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    store = RedisStore(url, namespace=namespace, lease=float(lease), replica=name)
    waits: set[asyncio.Task[None]] = set()
    async with (
        aiohttp.ClientSession(headers={"User-Agent": name}) as session,
        EvsJobClient(
            endpoint, project, auth=TokenAuth(os.environ["EVS_TOKEN"]), session=session
        ) as client,
        JobWatcher(
            client,
            policy=POLICY,
            rate_limit=float(rate),
            max_concurrency=32,
            store=store,
            on_status_change=reporter("change"),
            on_complete=reporter("complete"),
            on_fail=reporter("fail"),
        ) as watcher,
    ):

        async def wait(ids: list[str]) -> None:
            results = await watcher.wait_all(ids, return_exceptions=True)
            say({"kind": "waited", "results": dict(zip(ids, map(final, results), strict=True))})

        say({"kind": "ready"})
        while line := (await reader.readline()).decode().split():
            command, ids = line[0], line[1:]
            if command == "watch":
                for job_id in ids:
                    watcher.watch(job_id)
            elif command == "wait":
                task = loop.create_task(wait(ids))
                waits.add(task)
            elif command == "stop":
                break
        await asyncio.gather(*waits)
    say({"kind": "stopped", "round_trips": store.round_trips, "polls": watcher.stats.polls})


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(*sys.argv[1:8]))
