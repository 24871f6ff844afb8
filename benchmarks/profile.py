"""Profile the watcher's throughput run, its end-to-end run and the decode, and list the
library's hot spots.

`python -m benchmarks.profile [--seconds S] [--target T ...]` starts a simulator
process, then runs each workload in a child process under py-spy (sampling, `--gil`:
only samples holding the GIL, so time blocked in epoll is left out) and prints each
library function's share of the workload's samples (inclusive: itself and what it
calls) and the top functions by own time; samples outside the workload (imports, set-up)
are left out. Targets: `watcher` (the flat-out run of `throughput`, default policy),
`fixed` (the same with the learned schedule off), `client` and `bare`
(its two references, to compare); `mix-watcher` and `mix-hand` (`alternatives`: the
watcher with its defaults, and the hand-written loop, each watching the 200-job mix
until every job ended, on a fresh simulator); and `decode` (`decode_job` on a single-job
and a 20-sub-job body, alternately). For the polling targets each share is also shown as
µs per poll (the share of the child's measured CPU per poll); py-spy slows the child
down a little, so compare shares, not absolute µs, with the benchmark. Without py-spy
it falls back to cProfile in this process (slower code, same ranking). `--fast` polls
the minimal fast reference server (`fastserver.py`) instead of the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from typing import Any

import aiohttp
import orjson

from evs_job_watch._wire._codec import decode_job

from . import alternatives
from ._common import Simulator, cpu_clock, create_jobs, fast_server, simulator, since
from .decode import _create_batch
from .fastserver import job_ids
from .throughput import bare_loop, client_loop, fixed_loop, session, watcher_loop

LIBRARY = "evs_job_watch"
WORKLOAD = "workload (benchmarks/profile.py)"
LOOPS = {"watcher": watcher_loop, "fixed": fixed_loop, "client": client_loop, "bare": bare_loop}
MIXES = {"mix-watcher": "watcher-token", "mix-hand": "hand-written"}
MIX_JOBS = 200
MIX_SPEED = 10.0


def workload(target: str, setup: dict[str, Any], seconds: float) -> dict[str, float]:
    """Run one workload for about `seconds`; its polls (or decodes) and CPU seconds."""
    if target in MIXES:
        mix_sim = Simulator(**setup["mix"][target])

        async def watch_all() -> int:
            if target == "mix-hand":
                return await alternatives.with_hand_written(mix_sim, setup["mix_ids"][target])
            return await alternatives.with_watcher(mix_sim, setup["mix_ids"][target], "token")

        start = cpu_clock()
        requests = asyncio.run(watch_all())
        return {"polls": requests, "cpu": since(start)[1]}
    if target == "decode":
        bodies = [body.encode() for body in setup["bodies"]]
        start, stop, calls = time.process_time(), time.perf_counter() + seconds, 0
        while time.perf_counter() < stop:
            for _ in range(1000):
                for body in bodies:
                    decode_job(body)
            calls += 1000 * len(bodies)
        return {"polls": calls, "cpu": time.process_time() - start}

    async def poll() -> tuple[int, float, float]:
        async with session() as http:
            sim = Simulator(**setup["sim"])
            return await LOOPS[target](sim, http, setup["ids"], 1.0, seconds)

    polls, _, cpu = asyncio.run(poll())
    return {"polls": polls, "cpu": cpu}


def _short(frame: str) -> str:
    """A frame with its file's path shortened: from the library's package on (so that
    its sub-packages stay told apart and named), else the last two parts."""
    path = re.search(r" \((.*)\)$", frame)
    if path is None:
        return frame
    name = path.group(1)
    found = name.rfind(LIBRARY + "/")
    short = name[found:] if found >= 0 else "/".join(name.split("/")[-2:])
    return frame[: path.start()] + f" ({short})"


def _shares(raw: str) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    with open(raw) as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            frames = [_short(frame) for frame in stack.split(";")]
            if WORKLOAD not in frames:
                continue  # imports and set-up, not the workload
            weight = int(count)
            total += weight
            own[frames[-1]] += weight
            for frame in set(frames):
                inclusive[frame] += weight
    return total, inclusive, own


def report(title: str, raw: str, per_poll: float) -> None:
    """Print the library's inclusive shares and the top own-time functions of one run."""
    total, inclusive, own = _shares(raw)
    unit = "µs per call" if title == "decode" else "µs per poll"
    print(f"\n== {title}: {total} samples, {per_poll:.1f} {unit} (CPU, under py-spy)")

    def line(frame: str, count: int) -> str:
        return f"  {100 * count / total:5.1f}%  {per_poll * count / total:6.2f}  {frame}"

    print(f"library functions, including what they call (share, {unit}):")
    for frame, count in inclusive.most_common():
        if LIBRARY in frame and count / total >= 0.005:
            print(line(frame, count))
    print(f"top functions by own time (share, {unit}):")
    for frame, count in own.most_common(20):
        print(line(frame, count))


async def _profile(targets: list[str], seconds: float, fast: bool = False) -> None:
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    async with simulator(1e-6) as sim, aiohttp.ClientSession() as http:
        ids = await create_jobs(sim, 1000, concurrency=20)
        if fast:  # the polling targets against the fast reference server instead
            async with fast_server(1000) as quick:
                await _profile_all(
                    targets, seconds, spy, http, sim, ids, vars(quick), job_ids(1000)
                )
            return
        await _profile_all(targets, seconds, spy, http, sim, ids, vars(sim), ids)


async def _profile_all(
    targets: list[str],
    seconds: float,
    spy: str | None,
    http: aiohttp.ClientSession,
    sim: Simulator,
    ids: list[str],
    polled: dict[str, Any],
    polled_ids: list[str],
) -> None:
    batch = await _create_batch(http, sim, 20)
    bodies = []
    for job_id in (ids[0], batch):
        async with http.get(sim.job_url(job_id), headers=sim.headers) as response:
            bodies.append((await response.read()).decode())
    setup: dict[str, Any] = {"sim": polled, "ids": polled_ids, "bodies": bodies}
    setup.update(mix={}, mix_ids={})
    with tempfile.TemporaryDirectory() as folder:
        setup_path = os.path.join(folder, "setup.json")
        for target in targets:
            async with contextlib.AsyncExitStack() as stack:
                if target in MIXES:  # a fresh simulator: the mix's jobs start now
                    mix_sim = await stack.enter_async_context(
                        simulator(MIX_SPEED, seed=alternatives.SEED, failure_rate=0.1)
                    )
                    setup["mix"][target] = vars(mix_sim)
                    setup["mix_ids"][target] = await create_jobs(mix_sim, MIX_JOBS, mix=True)
                with open(setup_path, "wb") as file:  # noqa: ASYNC230 - a small file
                    file.write(orjson.dumps(setup))
                await _profile_one(spy, target, setup, setup_path, seconds, folder)


async def _profile_one(
    spy: str | None,
    target: str,
    setup: dict[str, Any],
    setup_path: str,
    seconds: float,
    folder: str,
) -> None:
    """Profile one workload in a child process (under py-spy), and print its report."""
    if spy is None:
        profiler = cProfile.Profile()
        profiler.enable()
        await asyncio.to_thread(workload, target, setup, seconds)
        profiler.disable()
        print(f"\n== {target} (cProfile; py-spy not found)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    raw = os.path.join(folder, f"{target}.raw")
    rate = "2000" if target in MIXES else "400"  # a mix takes a fraction of a CPU-second
    command = ["record", "--gil", "--nolineno", "-r", rate, "-f", "raw", "-o", raw]
    command += ["--", sys.executable, "-m", "benchmarks.profile", "--child", target]
    command += ["--setup", setup_path, "--seconds", str(seconds)]
    process = await asyncio.create_subprocess_exec(
        spy, *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"py-spy failed on {target}: {err.decode()[-500:]}")
    done = orjson.loads([x for x in out.splitlines() if x.startswith(b"{")][-1])
    report(target, raw, done["cpu"] / done["polls"] * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--target", choices=[*LOOPS, *MIXES, "decode"], action="append")
    parser.add_argument(
        "--fast", action="store_true", help="poll the fast reference server, not the simulator"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with open(args.setup, "rb") as file:
            done = workload(args.child, orjson.loads(file.read()), args.seconds)
        print(orjson.dumps(done).decode())
        return
    asyncio.run(_profile(args.target or ["watcher", "decode"], args.seconds, args.fast))


if __name__ == "__main__":
    main()
