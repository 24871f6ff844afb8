"""Ready mode and hints: what reading disks costs, and how soon it tells.

For fan-outs of 60, 200 and 1,000 single-disk creates whose disks turn `available` 5
simulated seconds after their job's SUCCESS (`Quirks(volume_lag=5)`), each watched to
its end without ready mode (the reference: the default policy, no hints), with it, and
with hints (`JobWatcher(hints=True)`) on the default policy and on a slower one (the
only way hints could save requests: polls spaced further, the hint bringing the last
one forward). Per job: the requests (job polls, plus its share of the disk listings),
and the latency from the moment the job really ended, or its disk turned usable, to the
event that said so (``on_complete``), p50 and p95, in simulated seconds.

It measures counts and simulated time, not CPU, so the simulator runs in this process
(`EvsSimulator`), its clock `SPEED` times fast, every policy scaled by 1/speed, and the
ground truth is the simulator's: `ended_at` of each job, `disks.usable_at` of its disk.
Run: ``python -m benchmarks.ready [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from evs_job_watch import EvsJobClient, Job, JobEvent, JobWatcher, PollPolicy, TokenAuth, Volume
from evs_job_watch.simulator import EvsSimulator, Quirks

from ._common import percentile, scaled

SPEED = 20.0
LAG = 5.0  # simulated seconds from a job's SUCCESS to its disk's available
FANOUTS = (60, 200, 1000)
SEED = 25
# Polls spaced further than the default's (which grows 1.5x a poll up to 15 s, and
# follows the durations it learns): hints would have to catch the end.
SLOW = PollPolicy(multiplier=3.0, max_interval=120.0, latency=None)


class CountingClient(EvsJobClient):
    """An ``EvsJobClient`` that counts its disk listings."""

    listings = 0

    async def list_volumes(self, volume_ids: Iterable[str]) -> list[Volume]:
        ids = list(volume_ids)
        self.listings += -(-len(ids) // 60)
        return await super().list_volumes(ids)


@dataclass
class Run:
    fanout: int
    ready: bool
    requests_per_job: float
    listings: int
    p50: float
    p95: float
    hints: bool = False
    slow: bool = False


async def measure(fanout: int, ready: bool, hints: bool = False, slow: bool = False) -> Run:
    """One fan-out watched to its end, with or without ready mode, hints, the slow policy."""
    policy = scaled(SLOW if slow else PollPolicy(), SPEED)
    quirks = Quirks(volume_lag=LAG)
    async with EvsSimulator(speed=SPEED, seed=SEED, quirks=quirks) as sim:
        job_ids = [sim.create_job("createVolume") for _ in range(fanout)]
        told: dict[str, float] = {}
        loop = asyncio.get_running_loop()

        def complete(event: JobEvent) -> None:
            told[event.job_id] = loop.time()

        auth = TokenAuth(sim.token)
        async with (
            CountingClient(sim.endpoint, sim.project_id, auth=auth) as client,
            JobWatcher(
                client, policy=policy, on_complete=complete, ready=ready, hints=hints
            ) as watcher,
        ):
            jobs: list[Job] = await watcher.wait_all(job_ids)
            polls = watcher.stats.polls
        latencies = []
        for job in jobs:
            (volume_id,) = sim.disks_of(job.job_id)
            since = sim.disks.usable_at(volume_id) if ready else sim.ended_at(job.job_id)
            latencies.append((told[job.job_id] - since) * SPEED)
        requests = (polls + client.listings) / fanout
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    return Run(fanout, ready, requests, client.listings, p50, p95, hints, slow)


# (ready, hints, slow policy): the reference first.
MODES = (
    (False, False, False),
    (False, True, False),
    (False, False, True),
    (False, True, True),
    (True, False, False),
    (True, True, False),
)


async def main(quick: bool) -> list[Run]:
    runs = []
    for fanout in FANOUTS[:1] if quick else FANOUTS:
        for ready, hints, slow in MODES:
            runs.append(await measure(fanout, ready, hints, slow))
    return runs


def table(runs: list[Run]) -> str:
    lines = [
        "| jobs | mode | policy | hints | requests per job | listings | latency p50 (s) "
        "| latency p95 (s) |",
        "|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        mode = "ready (from the disk usable)" if run.ready else "done (from the job's end)"
        policy = "slow" if run.slow else "default"
        figures = f"{run.requests_per_job:.2f} | {run.listings} | {run.p50:.2f} | {run.p95:.2f}"
        hints = "yes" if run.hints else "no"
        lines.append(f"| {run.fanout} | {mode} | {policy} | {hints} | {figures} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fan-out of 60 only")
    print(table(asyncio.run(main(parser.parse_args().quick))))
