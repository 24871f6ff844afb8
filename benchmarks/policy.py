"""Polling policy: requests per job and detection latency (p50/p95, simulated seconds
from a job's end to the watcher's event) of the default `PollPolicy`, against fixed
intervals of 1, 2, 5 and 10 s (and against itself without its learned schedule,
`hazard=None`, where the library has one), on a mix of job durations from a few seconds to
several minutes (per job type; see `DURATIONS`).

It measures counts and simulated time, not CPU, so the simulator runs in this process
(`EvsSimulator`): the ground-truth end (`sim.ended_at`, loop time) and the moment the
watcher's `on_complete`/`on_fail` fires are read on the same loop clock. The clock runs
`speed` times fast, so every policy is scaled by 1/speed and every latency multiplied by
speed: the comparison is in simulated seconds. Each policy watches its own simulator of
the same seed, so all see the same jobs with the same timelines, all at once. A policy
that learns from the durations of jobs it saw end (`hazard`) first watches a history
wave of 96 jobs to its end, as a service that has run for a while would have; then
every simulator makes the measured wave at the same moment. A ticker measures the
loop's lag; its p99 times the speed is the measurement's uncertainty.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from evs_job_watch import EvsJobClient, JobEvent, JobWatcher, PollPolicy, TokenAuth
from evs_job_watch.simulator import Duration, EvsSimulator

from ._common import Figure, fixed, log, percentile, scaled

# Simulated seconds: median, spread of the log, clipped to [min, max]. For
# batchCreateVolume each sub-job's; the batch ends after its last sub-job.
DURATIONS = {
    "deleteVolume": Duration(6.0, 0.5, 2.0, 60.0),
    "extendVolume": Duration(12.0, 0.5, 3.0, 120.0),
    "createVolume": Duration(20.0, 0.6, 5.0, 240.0),
    "batchCreateVolume": Duration(40.0, 0.5, 10.0, 300.0),
    "retypeVolume": Duration(150.0, 0.4, 60.0, 300.0),
}
MIX = (
    ("deleteVolume", 1),
    ("extendVolume", 1),
    ("createVolume", 1),
    ("batchCreateVolume", 3),
    ("createVolume", 1),
    ("retypeVolume", 1),
)
FIXED = (1.0, 2.0, 5.0, 10.0)
SEED = 11
HISTORY = 16 * len(MIX)  # jobs seen to end before the measured wave: 16+ of each type


class Gate:
    """Opens when every policy that learns has watched the history wave to its end."""

    def __init__(self, learners: int) -> None:
        self.waiting = learners
        self.open = asyncio.Event()
        if not learners:
            self.open.set()

    def done(self) -> None:
        self.waiting -= 1
        if not self.waiting:
            self.open.set()


async def _one(policy: PollPolicy, speed: float, jobs: int, gate: Gate) -> dict[str, Any]:
    """Watch the measured wave (after the history wave, for a policy that learns)."""
    learns = getattr(policy, "hazard", None) is not None
    async with EvsSimulator(speed=speed, seed=SEED, durations=DURATIONS, failure_rate=0.1) as sim:
        loop = asyncio.get_running_loop()
        seen: dict[str, float] = {}

        def ended(event: JobEvent) -> None:
            if event.parent is None:
                seen.setdefault(event.job_id, loop.time())

        def wave(count: int) -> list[str]:
            kinds = [MIX[index % len(MIX)] for index in range(count)]
            return [sim.create_job(kind, count=disks) for kind, disks in kinds]

        async with (
            EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
            JobWatcher(
                client, policy=scaled(policy, speed), on_complete=ended, on_fail=ended
            ) as watcher,
        ):
            history = wave(HISTORY)  # every simulator makes it, so the next wave is alike
            if learns:
                await watcher.wait_all(history, return_exceptions=True)
                gate.done()
            await gate.open.wait()
            ids = wave(jobs)
            first = watcher.stats.polls
            await watcher.wait_all(ids, return_exceptions=True)
            requests = watcher.stats.polls - first
        latency = [(seen[job_id] - sim.ended_at(job_id)) * speed for job_id in ids]
    return {
        "requests_per_job": requests / jobs,
        "p50": percentile(latency, 0.5),
        "p95": percentile(latency, 0.95),
    }


async def _lag(stop: asyncio.Event, lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.01)
        lags.append(loop.time() - before - 0.01)


async def _measure(speed: float, jobs: int) -> tuple[dict[str, dict[str, Any]], float]:
    policies = {"default": PollPolicy(), **{f"fixed {x:g} s": fixed(x) for x in FIXED}}
    if "hazard" in attrs.fields_dict(PollPolicy):
        # The default's growing interval alone, without the schedule learned from durations.
        policies["default, no learning"] = attrs.evolve(PollPolicy(), hazard=None)
    gate = Gate(sum(getattr(p, "hazard", None) is not None for p in policies.values()))
    stop, lags = asyncio.Event(), []
    ticker = asyncio.create_task(_lag(stop, lags))
    results = await asyncio.gather(*(_one(p, speed, jobs, gate) for p in policies.values()))
    stop.set()
    await ticker
    return dict(zip(policies, results, strict=True)), percentile(lags, 0.99) * speed


def measure(quick: bool) -> list[Figure]:
    speed, jobs = (40.0, 18) if quick else (10.0, 60)
    log(f"policy: default and fixed 1/2/5/10 s, {jobs} jobs each, in-process at speed {speed:g}")
    results, uncertainty = asyncio.run(_measure(speed, jobs))
    mine = results.pop("default")
    extra = {"speed": speed, "jobs": jobs, "lag_p99_sim_s": uncertainty, "default": mine}
    figures = []
    for name, theirs in results.items():
        section = f"policy vs {name}"
        for key, label, unit in (
            ("requests_per_job", "requests per job", "requests"),
            ("p50", "detection latency p50", "sim s"),
            ("p95", "detection latency p95", "sim s"),
        ):
            figures.append(
                Figure(section, f"default {label}", mine[key], unit, name, theirs[key], extra=extra)
            )
    return figures
