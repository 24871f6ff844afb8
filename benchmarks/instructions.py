"""`python -m benchmarks.instructions`: instructions per poll under valgrind's callgrind,
a count the machine's load does not move (the timed sections' CPU per poll does).

Each drive runs twice under `valgrind --tool=callgrind`, for N1 and N2 polls; the
difference of the two counts over the polls between them is the cost of a poll, with
the start-up and the first sight of every job cancelled out. The drives:

- `bare`, `watcher` and `fixed`: the throughput section's bare aiohttp loop, watcher
  (default policy, flat out) and watcher with learning off, 100 at a time over 1,000
  running jobs of the fast server (its process is not under valgrind);
- `learn`: the learned schedule alone, `DurationModel.answered` on 2,000 running jobs of
  one kind begun together, as the watcher asks it for each unchanged answer.

Under callgrind the client runs some fifty times slower, so the wall clock the learned
schedule reads would move fifty times further per poll than in a real run, and its jobs
would cross age bins (which rebuilds curves) fifty times as often. So every drive reads
a wall clock that moves 0.3 ms per read instead (a run at about 3,000 polls/s).
Needs valgrind (a system package, e.g. `apt install valgrind`); about 6 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import subprocess
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import orjson

from evs_job_watch import EvsJobClient, Job, JobStatus, JobType, JobWatcher, TokenAuth
from evs_job_watch._core import _poller
from evs_job_watch._core._learn import DurationModel

from . import fastserver
from ._common import fast_server
from .throughput import CONCURRENCY, FLAT_OUT, FLAT_OUT_FIXED, JOBS, session

DRIVES = ("bare", "watcher", "fixed", "learn")
POLLS = (1000, 3000)  # N1, N2 of the client drives; the learned schedule's: ten times
STEP = 0.0003  # seconds the wall clock moves per read of it


class _Clock:
    """A wall clock that moves STEP per read (what a real run at 3,000 polls/s reads)."""

    def __init__(self) -> None:
        self.now = time.time()  # the fast server's jobs began a minute before it started

    def time(self) -> float:
        self.now += STEP
        return self.now


async def _client(drive: str, polls: int) -> int:
    async with fast_server(JOBS) as sim, session() as http:
        ids = fastserver.job_ids(JOBS)
        if drive == "bare":
            urls, done = itertools.cycle([sim.job_url(job_id) for job_id in ids]), 0

            async def worker() -> None:
                nonlocal done
                while done < polls:
                    async with http.get(next(urls), headers=sim.headers) as response:
                        body = await response.read()
                    orjson.loads(body)
                    done += 1

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            return done
        client = EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token), session=http)
        policy = FLAT_OUT if drive == "watcher" else FLAT_OUT_FIXED
        # The poller's wall clock (the learned schedule's), not the loop's.
        _poller.time = types.SimpleNamespace(time=_Clock().time)  # type: ignore[assignment]
        try:
            async with JobWatcher(client, policy=policy, max_concurrency=CONCURRENCY) as watcher:
                for job_id in ids:
                    watcher.watch(job_id)
                # The stats announce nothing: look 20 times a second (noise under 1%).
                while watcher.stats.polls < polls:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                return watcher.stats.polls
        finally:
            _poller.time = time


def _learn(answers: int) -> int:
    model, clock = DurationModel(), _Clock()
    begin = datetime.fromtimestamp(clock.now, timezone.utc) - timedelta(seconds=60)
    jobs = [Job(f"job-{n}", JobStatus.RUNNING, JobType.CREATE_VOLUME, begin) for n in range(2000)]
    for n in range(answers):
        model.answered(jobs[n % len(jobs)], clock.time(), 4.2)
    return answers


def _drive(drive: str, polls: int) -> None:
    """Run one drive (in the process valgrind watches) and print the polls it made."""
    done = _learn(polls) if drive == "learn" else asyncio.run(_client(drive, polls))
    print(f"polls {done}")


def _counted(drive: str, polls: int) -> tuple[int, int]:
    """(polls made, instructions) of one drive under callgrind."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--drive",
        drive,
        str(polls),
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=True)
    made = re.search(r"^polls (\d+)$", run.stdout, re.MULTILINE)
    count = re.search(r"Collected : (\d+)", run.stderr)
    if made is None or count is None:
        raise RuntimeError(f"{drive}: no count in valgrind's output:\n{run.stderr[-2000:]}")
    return int(made.group(1)), int(count.group(1))


def measure(drives: list[str]) -> dict[str, float]:
    """Instructions per poll (per answer for `learn`) of each drive."""
    jobs = [(d, n * 10 if d == "learn" else n) for d in drives for n in POLLS]
    with ThreadPoolExecutor(2) as pool:  # valgrind is single-threaded: two at once
        counts = dict(zip(jobs, pool.map(lambda job: _counted(*job), jobs), strict=True))
    per_poll = {}
    for drive in drives:
        (p1, i1), (p2, i2) = (counts[drive, n * 10 if drive == "learn" else n] for n in POLLS)
        per_poll[drive] = (i2 - i1) / (p2 - p1)
    return per_poll


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument("--drive", nargs=2, metavar=("DRIVE", "POLLS"), help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=DRIVES, action="append", help="repeatable")
    args = parser.parse_args(argv)
    if args.drive:
        _drive(args.drive[0], int(args.drive[1]))
        return
    per_poll = measure(args.only or list(DRIVES))
    bare = per_poll.get("bare")
    for drive, count in per_poll.items():
        if drive == "learn":
            print(f"{drive:8} {count:10,.0f} instructions per answer")
        else:
            ratio = f"  {count / bare:.3f}x the bare loop" if bare else ""
            print(f"{drive:8} {count:10,.0f} instructions per poll{ratio}")


if __name__ == "__main__":
    main()
