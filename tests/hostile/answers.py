"""Shared helpers of the hostile input tests: hostile bodies and a one-route server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiohttp import web

from evs_job_watch import (
    PollPolicy,
)

MIB = 1024 * 1024
OTHER_JOB = "f" * 32
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
BUDGET = 3  # max_consecutive_errors of the watcher tests
FAST = PollPolicy(interval=0.01, max_interval=0.02, jitter=0, max_consecutive_errors=BUDGET)
DEADLINE = 30.0  # no watch may take longer than this: a hang fails the test, it does not stall


def job_json(job_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "status": "RUNNING",
        "entities": {"volume_id": "v-1", "size": 10},
        "job_id": job_id,
        "job_type": "createVolume",
        "begin_time": "2024-03-14T09:21:05.417Z",
        "end_time": "",
        "error_code": None,
        "fail_reason": None,
        **fields,
    }


def padded_job(job_id: str, size: int) -> bytes:
    """A valid job body of exactly ``size`` bytes."""
    head = orjson.dumps(job_json(job_id))[:-1] + b',"pad":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A one-route aiohttp server on 127.0.0.1 answering the job query; yields its endpoint."""
    app = web.Application()
    app.router.add_get("/v1/{project_id}/jobs/{job_id}", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
