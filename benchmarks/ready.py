"""Ready mode: what waiting for usable disks costs, and how soon it tells.

For fan-outs of 60, 200 and 1,000 single-disk creates whose disks turn `available` 5
simulated seconds after their job's SUCCESS (`Quirks(volume_lag=5)`), each watched to
its end twice: without ready mode (the reference) and with it. Per job: the requests
(job polls, plus its share of the disk listings), and the latency from the moment the
job really ended, or its disk turned usable, to the event that said so (``on_complete``),
p50 and p95, in simulated seconds. Ready mode's extra cost is the difference in
requests per job.

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


async def measure(fanout: int, ready: bool) -> Run:
    """One fan-out watched to its end, with or without ready mode."""
    policy = scaled(PollPolicy(), SPEED)
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
            JobWatcher(client, policy=policy, on_complete=complete, ready=ready) as watcher,
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
    return Run(fanout, ready, requests, client.listings, p50, p95)


async def main(quick: bool) -> list[Run]:
    runs = []
    for fanout in FANOUTS[:1] if quick else FANOUTS:
        for ready in (False, True):
            runs.append(await measure(fanout, ready))
    return runs


def table(runs: list[Run]) -> str:
    lines = [
        "| jobs | mode | requests per job | listings | latency p50 (s) | latency p95 (s) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        mode = "ready (from the disk usable)" if run.ready else "done (from the job's end)"
        figures = f"{run.requests_per_job:.2f} | {run.listings} | {run.p50:.2f} | {run.p95:.2f}"
        lines.append(f"| {run.fanout} | {mode} | {figures} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fan-out of 60 only")
    print(table(asyncio.run(main(parser.parse_args().quick))))
