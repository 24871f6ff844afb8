"""`evs-job-watch demo`: a realistic fleet of disk jobs against the embedded simulator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
from collections.abc import Sequence

import aiohttp
import attrs
from rich.console import Console
from rich.table import Table

from .. import simulator
from .._api._client import EvsJobClient
from .._core._events import JobEvent
from .._core._watcher import JobWatcher
from .._credentials._auth import TokenAuth
from .._policy import PollPolicy
from ._display import choose_display
from ._report import Tally
from ._run import Session

__all__ = ["DemoPlan", "run_demo"]

logger = logging.getLogger("evs_job_watch")


@attrs.frozen
class DemoPlan:
    """How many jobs of each kind the demo creates, and how fast its clock runs."""

    singles: int = 24
    batches: int = 4
    batch_size: int = 4
    extends: int = 8
    deletes: int = 8
    speed: float = 10.0
    seed: int = 7
    failure_rate: float = 0.1
    faults: bool = True


async def _create_jobs(
    http: aiohttp.ClientSession, sim: simulator.EvsSimulator, plan: DemoPlan
) -> list[str]:
    """Create the demo's jobs through the simulator's EVS API, as a user's service would."""
    base = f"{sim.endpoint}/v2/{sim.project_id}/cloudvolumes"
    ids: list[str] = []

    async def call(method: str, url: str, body: object = None) -> None:
        async with http.request(method, url, json=body) as response:
            response.raise_for_status()
            ids.append((await response.json())["job_id"])

    for n in range(plan.singles + plan.batches):
        count = plan.batch_size if n >= plan.singles else 1
        volume = {
            "size": 10 + 10 * (n % 5),
            "volume_type": "SSD",
            "name": f"demo-{n}",
            "count": count,
        }
        await call("POST", base, {"volume": volume})
    for _ in range(plan.extends):
        volume_id = sim.add_volume(size=20)
        await call("POST", f"{base}/{volume_id}/action", {"os-extend": {"new_size": 40}})
    for _ in range(plan.deletes):
        await call("DELETE", f"{base}/{sim.add_volume()}")
    return ids


async def run_demo(plan: DemoPlan, session: Session) -> int:
    """Run the demo and print its summary; 0 when every job was watched to its end."""
    faults = (
        simulator.Faults(
            server_error=0.05,
            throttle=0.01,
            retry_after=0.2,
            truncated=0.01,
            drop=0.01,
            latency=(0.0, 0.02),
        )
        if plan.faults
        else simulator.Faults()
    )
    sim = simulator.EvsSimulator(
        speed=plan.speed,
        seed=plan.seed,
        failure_rate=plan.failure_rate,
        faults=faults,
        invisible_for=3.0,
    )
    # The default policy in simulated time: the simulator's clock runs `speed` times faster.
    default = PollPolicy()
    policy = PollPolicy(
        interval=default.interval / plan.speed,
        max_interval=default.max_interval / plan.speed,
        not_found_grace=default.not_found_grace / plan.speed,
        latency=None if default.latency is None else default.latency / plan.speed,
    )
    ended: dict[str, float] = {}
    async with sim:
        loop_time = asyncio.get_running_loop().time  # the simulator's clock too

        async with aiohttp.ClientSession(headers={"X-Auth-Token": sim.token}) as http:
            job_ids = await _create_jobs(http, sim, plan)
        tally = session.tally = Tally(job_ids)
        display = choose_display(tally, session.output)

        def on_status_change(event: JobEvent) -> None:
            if event.status.is_terminal and not event.is_sub_job:
                ended[event.job_id] = loop_time()
            display.event(event)

        async with (
            EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
            JobWatcher(
                client, policy=policy, on_status_change=on_status_change, on_error=display.error
            ) as watcher,
        ):
            with display:
                logger.info("demo: watching %d jobs at %s", len(job_ids), sim.endpoint)
                wait = asyncio.ensure_future(watcher.wait_all(job_ids, return_exceptions=True))
                with session.stoppable(wait), contextlib.suppress(asyncio.CancelledError):
                    await wait
            stats = watcher.stats
        lateness = [(ended[job_id] - sim.ended_at(job_id)) * plan.speed for job_id in ended]
        subs = sum(len(sim.sub_job_ids(job_id)) for job_id in job_ids)
    if session.stopped is not None:
        return 0  # the session says why, and with which code
    errors = len(tally.errors)
    table = Table(title="evs-job-watch demo", show_header=False)
    table.add_row("jobs watched", f"{len(job_ids)} ({subs} sub-jobs in {plan.batches} batches)")
    table.add_row("succeeded / failed", f"{tally.succeeded} / {len(tally.failed)}")
    table.add_row("watch errors", str(errors))
    table.add_row("polls made", f"{stats.polls} ({stats.polls / max(len(job_ids), 1):.1f} per job)")
    table.add_row("errors retried", f"{stats.errors} (429s: {stats.throttled})")
    table.add_row("end-to-event p50 / p95", _percentiles(lateness) + " (simulated seconds)")
    table.add_row(
        "clock", f"simulated x{plan.speed:g}: one real second is {plan.speed:g} API seconds"
    )
    with session.output.guard():
        Console(file=session.output.stream).print(table)
    return 0 if errors == 0 else 3


def _percentiles(values: Sequence[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=20)
    return f"{statistics.median(values):.1f} s / {cuts[18]:.1f} s"
