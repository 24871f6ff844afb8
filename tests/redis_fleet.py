"""Replicas in one test process: each its own HTTP session (its User-Agent names it in the
simulator's request log), its own RedisStore, its own JobWatcher, sharing one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import aiohttp

from evs_job_watch import EvsJobClient, JobEvent, JobWatcher, PollPolicy, TokenAuth
from evs_job_watch.redis import RedisStore
from evs_job_watch.redis._link import Link, prefix
from evs_job_watch.simulator import EvsSimulator, RequestRecord

POLICY = PollPolicy(interval=0.05, max_interval=0.2, max_consecutive_errors=1000)
LEASE = 1.0  # seconds: short, so that takeovers happen within a test
GUARD = 30.0  # the most any wait may take before the test calls it a hang


class Seen:
    """Every callback of every replica: (replica, kind, job id, status)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, str]] = []

    def callbacks(self, name: str) -> dict[str, Callable[[JobEvent], None]]:
        def reporter(kind: str) -> Callable[[JobEvent], None]:
            def report(event: JobEvent) -> None:
                self.lines.append((name, kind, event.job_id, event.status.value))

            return report

        return {
            "on_status_change": reporter("change"),
            "on_complete": reporter("complete"),
            "on_fail": reporter("fail"),
        }

    def deliveries(self) -> Counter[tuple[str, str, str]]:
        """How often each (kind, job, status) was delivered across the fleet."""
        return Counter((kind, job, status) for _, kind, job, status in self.lines)


@contextlib.asynccontextmanager
async def replica(
    sim: EvsSimulator,
    url: str,
    namespace: str,
    name: str,
    seen: Seen | None = None,
    *,
    lease: float = LEASE,
    cluster: bool | None = None,
    **options: Any,
) -> AsyncIterator[JobWatcher]:
    """One replica of a service: a watcher on a RedisStore, named ``name`` in the log."""
    store = RedisStore(url, namespace=namespace, lease=lease, replica=name, cluster=cluster)
    callbacks = seen.callbacks(name) if seen is not None else {}
    async with (
        aiohttp.ClientSession(headers={"User-Agent": name}) as session,
        EvsJobClient(
            sim.endpoint, sim.project_id, auth=TokenAuth(sim.token), session=session
        ) as client,
        JobWatcher(
            client, policy=options.pop("policy", POLICY), store=store, **callbacks, **options
        ) as watcher,
    ):
        yield watcher


def polls(sim: EvsSimulator) -> list[RequestRecord]:
    return [r for r in sim.requests if r.method == "GET"]


def pollers(sim: EvsSimulator) -> defaultdict[str, list[tuple[float, str]]]:
    """For each job: (arrival, replica) of each of its polls, in order."""
    out: defaultdict[str, list[tuple[float, str]]] = defaultdict(list)
    for record in polls(sim):
        assert record.job_id is not None and record.agent is not None
        out[record.job_id].append((record.arrived or record.at, record.agent))
    return out


def overlaps(sim: EvsSimulator, gap: float) -> list[str]:
    """Jobs polled by two replicas less than ``gap`` seconds apart."""
    found = []
    for job, seen in pollers(sim).items():
        for (t1, a1), (t2, a2) in itertools.pairwise(seen):
            if a1 != a2 and t2 - t1 < gap:
                found.append(f"{job}: {a1} at {t1:.3f}, {a2} at {t2:.3f}")
    return found


def most_in_window(times: Iterable[float], window: float) -> int:
    """The most requests that arrived within any ``window`` seconds."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


async def until(condition: Callable[[], bool], what: str, guard: float = GUARD) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + guard
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


def key(namespace: str, name: str) -> str:
    """The name of one of the fleet's keys in Redis (``due``, ``owner``, ``ended``...)."""
    return f"{prefix(namespace)}{name}"


async def field(client: Any, namespace: str, name: str, job: str) -> bytes | None:
    """What the fleet keeps of ``job`` under ``name``: ``ended`` (how it ended, while
    kept), or a field of the fleet's hash ``w`` (``s``, ``u``, ``owner``, ``holds``,
    ``dl``; ``owner`` is there for every watch the fleet has)."""
    if name == "ended":
        found: bytes | None = await client.hget(key(namespace, "ended"), job)
    else:
        found = await client.hget(key(namespace, "w"), f"{name}:{job}")
    return found


async def set_field(client: Any, namespace: str, name: str, job: str, value: str) -> None:
    """Set a field of ``job`` in the fleet's hash ``w`` by hand (a restore would)."""
    await client.hset(key(namespace, "w"), f"{name}:{job}", value)


async def watched(client: Any, namespace: str, job: str) -> bool:
    """Whether the fleet has a watch of ``job``."""
    return await field(client, namespace, "owner", job) is not None


def owned(client: Any, namespace: str, replica: str) -> set[str]:
    """The jobs ``replica`` owns (read with a synchronous client)."""
    start = f"{len(replica)}:{replica}".encode()
    members = client.zrangebylex(key(namespace, "own"), b"[" + start, b"[" + start + b"\xff")
    return {member[len(start) :].decode() for member in members}


async def links(client: Any, namespace: str, *names: str) -> list[Link]:
    """Links of replicas ``names`` of the fleet in ``namespace``, each said hello to: their
    script calls driven by the test."""
    made = [Link(client, namespace, name) for name in names]
    for link in made:
        await link.hello()
    return made
