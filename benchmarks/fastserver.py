"""A minimal fast reference server: a plain aiohttp app answering pre-built job bodies.

The simulator renders each answer from a job's timeline, which costs it far more than
the client spends per request; against it a bare client loop wakes for every answer and
pays for it. This server answers from a dict of bytes built at start, so what the client
pays per request is what any client of a fast API pays. Run in a process of its own:

    python -m benchmarks.fastserver --jobs 1000 [--durations-seed 7 --speed 10]

It prints one JSON line like the simulator's (`endpoint`, `project_id`, `token`, ...) and
the job ids are `job_ids(count)`. Without `--durations-seed` every job runs for ever
(`RUNNING`, begun a minute before the server started); with it, job `i` ends (`SUCCESS`,
or `FAIL` for one in ten) after a seeded log-normal duration of median 20 simulated s,
divided by `--speed`, counted from the server's start: still one comparison and a
pre-built body per request. Binds 127.0.0.1 only; the token is not checked.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import socket
import sys
import time
import uuid

import orjson
from aiohttp import web

__all__ = ["PROJECT", "job_ids", "main"]

PROJECT = "0" * 32
TOKEN = "fast-reference-token"
_MEDIAN = 20.0  # simulated seconds, the simulator's durations' order of magnitude
_SPREAD = 0.8


def job_ids(count: int) -> list[str]:
    """The ids the server answers for, in order (the same in every process)."""
    return [str(uuid.UUID(int=index + 1)) for index in range(count)]


def _stamp(wall: float) -> str:
    seconds, millis = divmod(round(wall * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _body(job_id: str, status: str, begin: float, end: float | None) -> bytes:
    failed = status == "FAIL"
    return orjson.dumps(
        {
            "status": status,
            "entities": {"volume_id": job_id},
            "job_id": job_id,
            "job_type": "createVolume",
            "begin_time": _stamp(begin),
            "end_time": _stamp(end) if end is not None else "",
            "error_code": "EVS.2024" if failed else None,
            "fail_reason": "the disk could not be created" if failed else None,
        }
    )


def _app(count: int, seed: int | None, speed: float) -> web.Application:
    start = time.time()
    ids = job_ids(count)
    rng = random.Random(seed)
    # job id -> (running body, wall time it ends, ended body)
    jobs: dict[str, tuple[bytes, float, bytes]] = {}
    for job_id in ids:
        if seed is None:
            jobs[job_id] = (_body(job_id, "RUNNING", start - 60.0, None), math.inf, b"")
            continue
        duration = rng.lognormvariate(math.log(_MEDIAN), _SPREAD) / speed
        status = "FAIL" if rng.random() < 0.1 else "SUCCESS"
        end = start + duration
        jobs[job_id] = (
            _body(job_id, "RUNNING", start, None),
            end,
            _body(job_id, status, start, end),
        )
    missing = web.Response(status=404, body=b'{"error_code":"EVS.0004"}')

    async def job(request: web.Request) -> web.StreamResponse:
        found = jobs.get(request.match_info["job_id"])
        if found is None:
            return missing
        running, end, ended = found
        body = running if time.time() < end else ended
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get(f"/v1/{PROJECT}/jobs/{{job_id}}", job)
    return app


async def _serve(count: int, seed: int | None, speed: float) -> None:
    runner = web.AppRunner(_app(count, seed, speed), access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()
    port = sock.getsockname()[1]
    line = {
        "endpoint": f"http://127.0.0.1:{port}",
        "project_id": PROJECT,
        "token": TOKEN,
        "access_key": "",
        "secret_key": "",
    }
    print(orjson.dumps(line).decode(), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fastserver")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--durations-seed", type=int, default=None)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.jobs, args.durations_seed, args.speed))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
