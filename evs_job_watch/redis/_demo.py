"""`evs-job-watch demo --replicas N`: replicas of a service sharing one watch set in Redis.

N watchers, each with its own HTTP session (named by its User-Agent in the simulator's
request log) and its own ``RedisStore``, watch one set of jobs on the embedded
simulator: each job polled by one of them at a time. Partway through, one replica is
stopped, and the others take over its watches. A line per second shows who polls; a
table at the end shows who polled what, and which jobs changed hands.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import aiohttp
import attrs
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table
from yarl import URL

from .. import simulator
from .._api._client import EvsJobClient
from .._cli._args import UsageError
from .._cli._run import Session
from .._core._watcher import JobWatcher
from .._credentials._auth import TokenAuth
from .._errors import JobFailedError
from .._models import Job
from .._policy import PollPolicy
from .._wire._http import origin
from ._server import RedisServer, find_redis_server
from ._store import RedisStore

__all__ = ["ReplicasPlan", "run_replicas_demo"]

_LEASE = 3.0  # seconds: short, so that the takeover shows within the demo
_TICK = 0.5  # seconds between two lines of progress


@attrs.frozen
class ReplicasPlan:
    """What ``demo --replicas`` runs: how many replicas and jobs, and which Redis."""

    replicas: int
    jobs: int
    speed: float
    seed: int
    redis_url: str | None  # None: a private redis-server is started


@contextlib.asynccontextmanager
async def _redis(url: str | None) -> AsyncIterator[str]:
    if url is not None:
        await _reachable(url)
        yield url
        return
    try:
        binary = find_redis_server()
    except FileNotFoundError as exc:
        raise UsageError(f"--replicas without --redis-url starts a private Redis: {exc}") from None
    with RedisServer(binary=binary) as server:
        yield server.url


async def _reachable(url: str) -> None:
    """Ask a Redis given by the user for a PING, so that one that is not there is one
    line at once (a store would wait for it, retrying, for its open_timeout)."""
    client = aioredis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        parts = urllib.parse.urlsplit(url)
        where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
        reason = str(exc) or type(exc).__name__
        if parts.password:
            reason = reason.replace(parts.password, "***")
        raise UsageError(f"--redis-url: cannot reach Redis at {where} ({reason})") from None
    finally:
        await client.aclose()


def _line(sim: simulator.EvsSimulator, names: list[str], stopped: set[str], since: int) -> str:
    recent = Counter(record.agent for record in list(sim.requests)[since:])
    parts = [
        f"{name}: {'stopped' if name in stopped else f'{recent[name]:3d} polls'}" for name in names
    ]
    return "  ".join(parts)


async def run_replicas_demo(plan: ReplicasPlan, session: Session) -> int:
    """Run the demo; 0 when every job was seen to its end by the replicas left.

    The last replica is stopped once a third of the jobs ended. A stop (a signal, a
    closed stdout) ends it early: the session says why, with its exit code.
    """
    replicas, jobs, speed = plan.replicas, plan.jobs, plan.speed
    names = [chr(ord("a") + n) for n in range(replicas)]
    default = PollPolicy()
    policy = PollPolicy(
        interval=default.interval / speed,
        max_interval=default.max_interval / speed,
        not_found_grace=default.not_found_grace / speed,
    )
    sim = simulator.EvsSimulator(speed=speed, seed=plan.seed, failure_rate=0.1)
    output = session.output
    console = Console(file=output.stream)

    def show(*renderables: object) -> None:
        if not output.broken:
            with output.guard():
                console.print(*renderables)

    async with _redis(plan.redis_url) as url, sim, contextlib.AsyncExitStack() as stack:
        job_ids = [sim.create_job("createVolume", count=1 + n % 3) for n in range(jobs)]
        watchers: dict[str, JobWatcher] = {}
        namespace = f"demo{plan.seed}"
        for name in names:
            http = await stack.enter_async_context(
                aiohttp.ClientSession(headers={"User-Agent": name})
            )
            client = EvsJobClient(
                sim.endpoint, sim.project_id, auth=TokenAuth(sim.token), session=http
            )
            store = RedisStore(url, namespace=namespace, lease=_LEASE, replica=name)
            watchers[name] = await stack.enter_async_context(
                JobWatcher(client, policy=policy, store=store)
            )
        for n, job_id in enumerate(job_ids):
            watchers[names[n % replicas]].watch(job_id)
        show(f"{replicas} replicas share {jobs} jobs through Redis ({origin(URL(url))})")
        survivor, victim = watchers[names[0]], names[-1]
        waiting = asyncio.ensure_future(survivor.wait_all(job_ids, return_exceptions=True))
        stopped: set[str] = set()
        ticks, seen = 0, 0
        with session.stoppable(waiting):
            while not waiting.done():
                await asyncio.wait({waiting}, timeout=_TICK)
                ticks += 1
                ended = jobs - len(survivor.watching())
                line = _line(sim, names, stopped, seen)
                show(f"{ticks * _TICK:5.1f} s  {line}  ({ended}/{jobs} ended)")
                seen = len(sim.requests)
                if not stopped and ended >= jobs / 3 and not waiting.done():
                    show(f"        stopping replica {victim}: its watches go to the others")
                    stopped.add(victim)
                    await watchers.pop(victim).aclose()
        if waiting.cancelled():
            return 0  # stopped: the session says why, and with which code
        results = waiting.result()
    by_job: defaultdict[str, list[str]] = defaultdict(list)
    for record in sim.requests:
        if record.job_id is not None and record.agent is not None:
            by_job[record.job_id].append(record.agent)
    moved: Counter[str] = Counter()
    for agents in by_job.values():
        if victim in agents:
            last = len(agents) - 1 - agents[::-1].index(victim)
            if last + 1 < len(agents):
                moved[agents[last + 1]] += 1  # the replica that took it over
    table = Table(title="evs-job-watch demo: replicas", show_header=True)
    for column in ("replica", "polls", f"jobs taken over from {victim}"):
        table.add_column(column)
    polls = Counter(agent for agents in by_job.values() for agent in agents)
    for name in names:
        table.add_row(name, str(polls[name]), "-" if name == victim else str(moved[name]))
    show(table)
    ended = sum(isinstance(r, (Job, JobFailedError)) for r in results)
    show(f"{ended} of {jobs} jobs seen to their end; each polled by one replica at a time")
    return 0 if ended == jobs else 3
