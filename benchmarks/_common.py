"""Shared pieces of the benchmarks: the simulator process, job creation, clocks, figures.

Every figure is a ratio against a reference measured in the same run, because the
machine is small (2 cores) and shared: absolute numbers move from run to run, ratios
taken minutes apart on the same machine much less.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import aiohttp
import attrs
import orjson

from evs_job_watch import PollPolicy, _policy
from evs_job_watch._core import _learn, _schedule

__all__ = [
    "Figure",
    "Simulator",
    "cpu_clock",
    "create_jobs",
    "fast_server",
    "fixed",
    "log",
    "loop_lag",
    "percentile",
    "rss_bytes",
    "run",
    "scaled",
    "simulator",
    "since",
    "sped_up",
]

T = TypeVar("T")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


def rss_bytes() -> int:
    """This process's resident set size now (Linux /proc, no dependency)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """Until ``stop``: how late the loop wakes from a 10 ms sleep, appended to ``lags``."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.01)
        lags.append(loop.time() - before - 0.01)


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile (0..1) of `values`, interpolated linearly; nan if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fixed(interval: float) -> PollPolicy:
    """A policy that polls every `interval` seconds exactly: no growth, no jitter, and
    no schedule learned from job durations."""
    return PollPolicy(
        interval=interval, max_interval=interval, multiplier=1, jitter=0, latency=None
    )


def scaled(policy: PollPolicy, speed: float) -> PollPolicy:
    """`policy` in loop seconds for a simulator whose clock runs `speed` times faster."""
    return attrs.evolve(
        policy,
        interval=policy.interval / speed,
        max_interval=policy.max_interval / speed,
        not_found_grace=policy.not_found_grace / speed,
        latency=None if policy.latency is None else policy.latency / speed,
    )


@contextmanager
def sped_up(speed: float) -> Iterator[None]:
    """While it lasts, the learned schedule reads a policy `scaled` by `speed` as the same
    policy on a clock `speed` times fast. The schedule weighs `latency` against the
    default's 4.2 s (`DEFAULT_LATENCY`, read by `_learn`, `_policy` and `_schedule`): a
    latency divided by `speed` would read as a smaller latency (skips shrunk by the
    knob), not the default sped up. So that anchor is divided by `speed` too."""
    modules = (_learn, _policy, _schedule)
    saved = [module.DEFAULT_LATENCY for module in modules]
    for module, value in zip(modules, saved, strict=True):
        module.DEFAULT_LATENCY = value / speed  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, value in zip(modules, saved, strict=True):
            module.DEFAULT_LATENCY = value  # type: ignore[attr-defined]


def run(coro: Coroutine[Any, Any, T], loop: str = "asyncio") -> T:
    """Run `coro` on a fresh event loop of the named kind ("asyncio" or "uvloop")."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


@dataclass
class Simulator:
    """The connection line printed by `python -m evs_job_watch.simulator`."""

    endpoint: str
    project_id: str
    token: str
    access_key: str
    secret_key: str
    speed: float = 1.0
    pid: int = 0

    def cpu(self) -> float:
        """The simulator process's CPU seconds so far (user + system)."""
        with open(f"/proc/{self.pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def job_url(self, job_id: str) -> str:
        return f"{self.endpoint}/v1/{self.project_id}/jobs/{job_id}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}


@asynccontextmanager
async def simulator(
    speed: float, *, seed: int = 1, failure_rate: float = 0.0
) -> AsyncIterator[Simulator]:
    """The standalone simulator in a process of its own, so its CPU is not the client's."""
    options = ["--port", "0", "--speed", repr(speed), "--seed", str(seed)]
    options += ["--failure-rate", repr(failure_rate), "--keep-requests", "1"]
    async with _server("evs_job_watch.simulator", options, speed) as sim:
        yield sim


@asynccontextmanager
async def fast_server(
    jobs: int, *, durations_seed: int | None = None, speed: float = 1.0
) -> AsyncIterator[Simulator]:
    """The minimal fast reference server (`fastserver.py`) in a process of its own:
    `jobs` pre-built bodies, ids `fastserver.job_ids(jobs)`; running for ever, or ending
    after seeded durations (`durations_seed`, simulated s divided by `speed`)."""
    options = ["--jobs", str(jobs), "--speed", repr(speed)]
    if durations_seed is not None:
        options += ["--durations-seed", str(durations_seed)]
    async with _server("benchmarks.fastserver", options, speed) as sim:
        yield sim


@asynccontextmanager
async def _server(module: str, options: list[str], speed: float) -> AsyncIterator[Simulator]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *options, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            raise RuntimeError(f"{module} exited before printing its connection line")
        info = orjson.loads(line)
        wanted = ("endpoint", "project_id", "token", "access_key", "secret_key")
        yield Simulator(**{key: info[key] for key in wanted}, speed=speed, pid=process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


# The job mix of the comparison benchmarks: (kind, count); extends and deletes act on
# disks made by earlier creates, as a service's operations would.
_MIX = (("create", 1), ("create", 3), ("extend", 1), ("create", 1), ("delete", 1))


async def create_jobs(
    sim: Simulator, count: int, *, mix: bool = False, concurrency: int = 1
) -> list[str]:
    """Create `count` jobs through the simulator's HTTP API; their ids, in order.

    `mix` cycles through single creates, 3-disk batches, extends and deletes; otherwise
    every job is a single-disk createVolume. With `concurrency` 1 the creation order,
    and so each job's seeded timeline, is the same in every simulator of the same seed.
    """
    base = f"{sim.endpoint}/v2/{sim.project_id}/cloudvolumes"
    volumes: list[str] = []
    ids: list[str | None] = [None] * count

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        kind, disks = _MIX[index % len(_MIX)] if mix else ("create", 1)
        if kind == "create" or not volumes:
            body: dict[str, Any] = {"volume": {"size": 10, "volume_type": "SSD", "count": disks}}
            url, method = base, "POST"
        elif kind == "extend":
            body = {"os-extend": {"new_size": 20 + index}}
            url, method = f"{base}/{volumes[index % len(volumes)]}/action", "POST"
        else:
            url, method, body = f"{base}/{volumes.pop()}", "DELETE", {}
        data = orjson.dumps(body) if body else None
        async with session.request(method, url, data=data, headers=sim.headers) as response:
            response.raise_for_status()
            job_id = (await response.json())["job_id"]
        ids[index] = job_id
        if kind == "create" and disks == 1:
            volumes.append(await _volume_of(session, sim, job_id))

    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:
        queue = iter(range(count))

        async def worker() -> None:
            for index in queue:
                await one(session, index)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [job_id for job_id in ids if job_id is not None]


async def _volume_of(session: aiohttp.ClientSession, sim: Simulator, job_id: str) -> str:
    async with session.get(sim.job_url(job_id), headers=sim.headers) as response:
        volume_id: str = (await response.json())["entities"]["volume_id"]
        return volume_id


@dataclass
class Figure:
    """One measured figure beside its reference, and the target for their ratio or value.

    `target` is `(what, op, bound)` with `what` "ratio" (value / reference) or "value",
    `op` "<=", ">=" or "<": e.g. `("ratio", ">=", 0.9)`.
    """

    section: str
    name: str
    value: float
    unit: str
    reference: str
    ref_value: float
    target: tuple[str, str, float] | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.ref_value if self.ref_value else float("nan")

    @property
    def ok(self) -> bool | None:
        if self.target is None:
            return None
        what, op, bound = self.target
        got = self.ratio if what == "ratio" else self.value
        return {"<=": got <= bound, ">=": got >= bound, "<": got < bound}[op]

    def target_text(self) -> str:
        if self.target is None:
            return ""
        what, op, bound = self.target
        sign = {"<=": "≤", ">=": "≥", "<": "<"}[op]
        return f"{sign}{bound:g}x" if what == "ratio" else f"{sign}{bound:g} {self.unit}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, ok=self.ok, target=self.target_text() or None)
        return data


def cpu_clock() -> tuple[float, float]:
    """(wall, client CPU) now: perf_counter and this process's CPU time, all threads."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds elapsed since a `cpu_clock()` reading."""
    wall, cpu = cpu_clock()
    return wall - start[0], cpu - start[1]


def log(message: str) -> None:
    """Progress lines go to stderr, so stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)
