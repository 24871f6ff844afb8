"""The first watcher of ``test_resume_kill.py``, run in a process of its own so it can be killed.

Usage: ``python resume_child.py ENDPOINT PROJECT_ID STATE_PATH`` with the token in the
environment variable ``EVS_TOKEN``. It prints ``{"kind": "started"}`` once imported,
reads one line of space-separated job ids from stdin, watches them with ``state_path``,
prints ``{"kind": "ready"}`` once the state file lists them, then one JSON line per
callback until it is killed. Each line is one ``write`` of a flushed buffer, so a line
the parent reads was printed whole before the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from evs_job_watch import EvsJobClient, JobEvent, JobWatcher, PollPolicy, TokenAuth

# The parent runs the resumed watcher with the same policy.
POLICY = PollPolicy(
    interval=0.05,
    max_interval=0.2,
    max_consecutive_errors=1000,  # errors are not what the test is about
    not_found_grace=60.0,
)
READY_WITHIN = 10.0  # seconds for the first state file to appear


def say(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def line(kind: str, event: JobEvent) -> dict[str, Any]:
    return {
        "kind": kind,
        "job_id": event.job_id,
        "parent": None if event.parent is None else event.parent.job_id,
        "status": event.status.value,
        "previous": None if event.previous is None else event.previous.value,
    }


async def on_status_change(event: JobEvent) -> None:
    # A slow coroutine: delivery spans loop steps, so the state file is written, and the
    # kill may land, while events are seen but not printed, or printed but not done.
    await asyncio.sleep(0.01)
    say(line("change", event))
    await asyncio.sleep(0.01)


def reporter(kind: str) -> Any:
    def report(event: JobEvent) -> None:
        say(line(kind, event))

    return report


async def main(endpoint: str, project_id: str, state_path: str, job_ids: list[str]) -> None:
    auth = TokenAuth(os.environ["EVS_TOKEN"])
    async with (
        EvsJobClient(endpoint, project_id, auth=auth) as client,
        JobWatcher(
            client,
            policy=POLICY,
            state_path=state_path,
            on_status_change=on_status_change,
            on_complete=reporter("complete"),
            on_fail=reporter("fail"),
        ) as watcher,
    ):
        for job_id in job_ids:
            watcher.watch(job_id)
        # Every watch() above ran before the writer task's first snapshot, so the first
        # file holds them all: from here on a kill cannot lose a watch.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WITHIN
        while not os.path.exists(state_path):
            if loop.time() > deadline:
                raise SystemExit("the state file did not appear")
            await asyncio.sleep(0.005)
        say({"kind": "ready"})
        await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    say({"kind": "started"})
    ids = sys.stdin.readline().split()
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], ids))
