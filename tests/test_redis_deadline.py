"""A watch's deadline lives with the watch in Redis: it ends for the whole fleet on time,
even when the replica whose caller set it died.

The script's rules are driven as two replicas' links call it (``Link``), on a real
redis-server, so that who dies when is scripted; the whole path through real watchers
follows, with a replica made dead by a link that stalls for good (``netkit.Relay``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from evs_job_watch import WatchTimeoutError
from evs_job_watch.redis import RedisServer
from evs_job_watch.redis._wire import batch_items
from evs_job_watch.simulator import EvsSimulator

from .netkit import Relay
from .redis_fleet import GUARD, field, key, links, pollers, replica, set_field, until, watched

NEVER = [(0, "INIT"), (0.05, "RUNNING"), (600, "SUCCESS")]  # a job that outlives the test


def add(job: str, x: int | None, *, owner: bool = False) -> str:
    item: dict[str, Any] = {"a": "add", "j": job, "s": "", "u": "{}", "h": 1, "o": int(owner)}
    if x is not None:
        item["x"] = x
    return batch_items([item])


async def expiries(client: aioredis.Redis, namespace: str) -> list[str]:
    """The jobs whose fleet's watch expired, as the fleet's log told every replica."""
    entries = await client.xrange(key(namespace, "log"))
    messages = [orjson.loads(fields[b"m"]) for _, fields in entries]
    return [m["j"] for m in messages if m.get("k") == "exp"]


LEASE = 600_000  # us
KEEP = 60_000  # ms


async def test_the_deadline_kept_is_the_latest_of_the_holders_or_none(
    direct: aioredis.Redis, namespace: str
) -> None:
    # Fails if an add or a lengthening ("dl") does not move the deadline to the latest
    # one, if a later add shortens it, or if a holder without a deadline does not lift it.
    a, b, c = await links(direct, namespace, "a", "b", "c")
    await a.run("batch", LEASE, KEEP, add("job-1", 5_000_000))
    first = int(await field(direct, namespace, "dl", "job-1"))
    await b.run("batch", LEASE, KEEP, add("job-1", 60_000_000))
    later = int(await field(direct, namespace, "dl", "job-1"))
    assert later >= first + 50_000_000
    await c.run("batch", LEASE, KEEP, add("job-1", 1_000_000))  # sooner: no change
    assert int(await field(direct, namespace, "dl", "job-1")) == later
    lengthen = batch_items([{"a": "dl", "j": "job-1", "x": 120_000_000}])
    await a.run("batch", LEASE, KEEP, lengthen)
    assert int(await field(direct, namespace, "dl", "job-1")) >= later + 55_000_000
    await a.run("batch", LEASE, KEEP, batch_items([{"a": "dl", "j": "job-1", "x": -1}]))
    assert await field(direct, namespace, "dl", "job-1") == b"none"
    await b.run("batch", LEASE, KEEP, add("job-2", -1))
    await b.run("batch", LEASE, KEEP, add("job-2", 1_000))
    assert await field(direct, namespace, "dl", "job-2") == b"none"
    # A replica that re-adds a watch nobody holds there tells no deadline.
    await c.run("batch", LEASE, KEEP, add("job-3", None))
    assert await field(direct, namespace, "dl", "job-3") is None


async def test_the_owner_s_claim_cycle_ends_a_watch_past_its_deadline_and_comes_on_time(
    direct: aioredis.Redis, namespace: str
) -> None:
    # a polls job-1, held with a 0.2 s deadline, under a 5 s lease. Its first claim cycle
    # must say to come back by the deadline (not a quarter lease later); the cycle after
    # the deadline ends the fleet's watch and tells every replica. Fails if the deadline
    # does not bring the next cycle forward, or if the owned watch is renewed past it.
    (a,) = await links(direct, namespace, "a")
    lease = 5_000_000
    await a.run("claim", lease, 500, "0", 0)
    result = await a.run("batch", lease, KEEP, add("job-1", 200_000, owner=True))
    assert result[1][0][0] == b"claimed"
    soon = int((await a.run("claim", lease, 500, "0", 0))[4])
    assert 0 <= soon <= 200_000
    await asyncio.sleep(0.3)
    await a.run("claim", lease, 500, "0", 0)
    assert not await watched(direct, namespace, "job-1")
    assert await direct.zscore(key(namespace, "due"), "job-1") is None
    assert not await field(direct, namespace, "ended", "job-1")  # no ending kept
    assert await expiries(direct, namespace) == ["job-1"]


async def test_a_watch_whose_owner_died_past_its_deadline_is_ended_not_taken_over(
    direct: aioredis.Redis, namespace: str
) -> None:
    # a holds and polls job-1 (deadline 0.2 s) and dies. Once a's lease lapsed, b's claim
    # must end the watch rather than take it (and poll it past its deadline). Fails if a
    # claim takes a watch without looking at its deadline.
    a, b = await links(direct, namespace, "a", "b")
    await a.run("claim", LEASE, 500, "0", 0)
    await b.run("claim", LEASE, 500, "0", 0)
    await a.run("batch", LEASE, KEEP, add("job-1", 200_000, owner=True))
    # a calls no more; b goes on (every 50 ms) until a's lease lapsed and b's claim
    # found the watch due.
    taken = []
    for _ in range(40):
        await asyncio.sleep(0.05)
        taken += [job for job, _, _ in (await b.run("claim", LEASE, 500, "0", 0))[2]]
        if taken or not await watched(direct, namespace, "job-1"):
            break
    assert taken == []
    assert not await watched(direct, namespace, "job-1")
    assert await expiries(direct, namespace) == ["job-1"]


async def test_a_hold_that_comes_after_the_deadline_starts_a_new_watch(
    direct: aioredis.Redis, namespace: str
) -> None:
    # The deadline of job-1 passed, and nobody's claim cycle ended it yet: b's new hold
    # must start a watch of its own, not join the old one (and inherit its deadline).
    a, b = await links(direct, namespace, "a", "b")
    await a.run("batch", LEASE, KEEP, add("job-1", 100_000))
    await asyncio.sleep(0.2)
    await b.run("batch", LEASE, KEEP, add("job-1", -1))
    assert await field(direct, namespace, "holds", "job-1") == b"1"
    assert await field(direct, namespace, "dl", "job-1") == b"none"
    assert await expiries(direct, namespace) == ["job-1"]


async def test_a_watch_whose_holder_died_ends_at_its_deadline_on_every_replica(
    redis_server: RedisServer, direct: aioredis.Redis, namespace: str
) -> None:
    # a holds a job that never ends (timeout 3 s) and polls it; then a's link to Redis
    # stalls for good: a is dead to the fleet, its hold still counted. b takes the watch
    # over; b's own waiter (timeout 1.5 s) gets WatchTimeoutError on time; and at a's
    # deadline the fleet's watch ends: b stops polling, Redis keeps no record of it.
    # Fails if the deadline is not kept with the watch (b polls on until the job ends).
    loop = asyncio.get_running_loop()
    async with (
        EvsSimulator(speed=1, seed=31) as sim,
        Relay(to=("127.0.0.1", redis_server.port)) as relay,
    ):
        job = sim.add_job(timeline=NEVER)
        url = f"redis://127.0.0.1:{relay.port}"
        async with replica(sim, url, namespace, "a") as a:
            started = loop.time()
            a.watch(job, timeout=3.0)  # a alone: a polls it
            await until(lambda: bool(pollers(sim)[job]), "a polls it")
            async with replica(sim, redis_server.url, namespace, "b") as b:
                relay.hold()
                with pytest.raises(WatchTimeoutError):
                    await asyncio.wait_for(b.wait(job, timeout=1.5), GUARD)
                await until(lambda: "b" in {r for _, r in pollers(sim)[job]}, "b takes it")
                for _ in range(int(GUARD / 0.02)):
                    if not await watched(direct, namespace, job):
                        break
                    await asyncio.sleep(0.02)
                gone = loop.time()
                assert not await watched(direct, namespace, job), "the watch outlived its deadline"
                assert gone - started >= 3.0  # not before its deadline
                await asyncio.sleep(0.3)  # b has heard it ended by now
                polled = len(pollers(sim)[job])
                await asyncio.sleep(0.5)  # ten intervals: b would poll it again within them
                assert len(pollers(sim)[job]) == polled
                assert job not in b.watching()
                relay.cut()  # a comes back to close
        assert pollers(sim)[job][0][1] == "a"


async def test_a_holder_that_joined_as_the_deadline_passed_keeps_waiting(
    redis_server: RedisServer, direct: aioredis.Redis, namespace: str
) -> None:
    # The fleet's watch of a job ends at its deadline while a caller of a still waits
    # without one (its lengthening had not reached Redis yet; here the deadline is moved
    # into the past by hand). a's watch must start the fleet's watch anew and answer the
    # waiter when the job ends. Fails if an expiry ends the watch here with a holder
    # left: nobody would tell it (it would wait forever).
    async with EvsSimulator(speed=1, seed=32) as sim:
        job = sim.add_job(timeline=[(0, "INIT"), (0.1, "RUNNING"), (2.0, "SUCCESS")])
        async with replica(sim, redis_server.url, namespace, "a") as a:
            handle = a.watch(job)
            await until(lambda: bool(pollers(sim)[job]), "a polls it")
            await set_field(direct, namespace, "dl", job, "1")  # long past
            for _ in range(int(GUARD / 0.02)):
                if job in await expiries(direct, namespace):
                    break
                await asyncio.sleep(0.02)
            assert job in await expiries(direct, namespace)
            end = await asyncio.wait_for(handle, GUARD)
    assert end.status.value == "SUCCESS"


async def test_a_replica_tells_the_fleet_each_holder_that_waits_longer(
    redis_server: RedisServer, direct: aioredis.Redis, namespace: str
) -> None:
    # a's first holder waits 5 s: the fleet's deadline is about 5 s away. A second one
    # waiting 60 s moves it; a third one without a timeout lifts it. A wait_all holds
    # its watches without one (its overall timeout is its own). Fails if a holder that
    # waits longer is not told to the fleet (the watch would end under it).

    async def deadline(job: str) -> bytes | None:
        for _ in range(int(GUARD / 0.02)):
            if await watched(direct, namespace, job):
                break
            await asyncio.sleep(0.02)
        return await field(direct, namespace, "dl", job)

    async def moves(job: str, before: bytes | None) -> bytes | None:
        for _ in range(int(GUARD / 0.02)):
            now = await field(direct, namespace, "dl", job)
            if now != before:
                return now
            await asyncio.sleep(0.02)
        return before

    async with EvsSimulator(speed=1, seed=33) as sim:
        job, other = sim.add_job(timeline=NEVER), sim.add_job(timeline=NEVER)
        async with replica(sim, redis_server.url, namespace, "a", lease=5.0) as a:
            a.watch(job, timeout=5.0)
            first = await deadline(job)
            assert first is not None and first != b"none"
            a.watch(job, timeout=60.0)
            later = await moves(job, first)
            assert later is not None and int(later) - int(first) >= 50_000_000
            a.watch(job)
            assert await moves(job, later) == b"none"
            waiting = asyncio.ensure_future(a.wait_all([other], timeout=30.0))
            assert await deadline(other) == b"none"
            waiting.cancel()
