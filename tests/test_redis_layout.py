"""The fleet's keys: a fixed set per namespace, each job a field or a member of them.

Driven as replicas' links call the script (``Link``), on a real redis-server: endings
kept for a while and then gone (fields have no expiry of their own, so the script trims
them), a replica's owned watches found by their lexical range and no other replica's,
and a namespace written by the layout before (per-job keys) never read.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from evs_job_watch.redis import RedisServer
from evs_job_watch.redis._link import NAMES
from evs_job_watch.redis._wire import batch_items
from evs_job_watch.simulator import EvsSimulator

from .redis_fleet import field, key, links, pollers, replica, until

LEASE = 600_000  # us
RUNNING = [(0, "INIT"), (0.05, "RUNNING"), (600, "SUCCESS")]


def add(job: str, owner: bool = True) -> dict[str, object]:
    return {"a": "add", "j": job, "s": "RUNNING", "u": "{}", "h": 1, "o": int(owner)}


def end(job: str) -> dict[str, object]:
    return {"a": "end", "j": job, "t": '{"s":"SUCCESS"}', "m": '{"k":"end"}', "f": 1}


async def test_an_ending_is_kept_for_its_time_then_gone(
    direct: aioredis.Redis, namespace: str
) -> None:
    # Fails if an ending outlives its time (check would answer it, a later watch would
    # end at once with it) or if its fields are never trimmed (they would grow forever).
    (a,) = await links(direct, namespace, "a")
    await a.run("batch", LEASE, 200, batch_items([add("old"), add("new")]))
    await a.run("batch", LEASE, 200, batch_items([end("old")]))
    assert await a.run("check", "old") == [b'{"s":"SUCCESS"}']
    await asyncio.sleep(0.3)  # past old's 200 ms
    await a.run("batch", LEASE, 60_000, batch_items([end("new")]))
    assert await a.run("check", "old", "new") == [b"gone", b'{"s":"SUCCESS"}']
    assert await field(direct, namespace, "ended", "old") is not None  # not trimmed yet
    await a.run("claim", LEASE, 500, "0", 0, -1)
    assert await field(direct, namespace, "ended", "old") is None
    assert await direct.zscore(key(namespace, "kept"), "old") is None
    assert await field(direct, namespace, "ended", "new") is not None
    # A new watch of old starts afresh; one of new is answered by its ending.
    answer = await a.run("batch", LEASE, 60_000, batch_items([add("old"), add("new")]))
    assert [item[0] for item in answer[1]] == [b"claimed", b"ended"]


async def test_each_replica_finds_its_own_watches_and_no_other_s(
    direct: aioredis.Redis, namespace: str
) -> None:
    # Replica ids that are prefixes of one another ("a", "a1", "1:a"): each one's part of
    # ``own`` starts with its length, so none reads another's. Fails if a claim cycle
    # counts or renews another replica's watches (or reports them lost).
    a, a1, odd = await links(direct, namespace, "a", "a1", "1:a")
    for link in (a, a1, odd):
        await link.run("claim", LEASE, 500, "0", 0, -1)
    await a.run("batch", LEASE, 60_000, batch_items([add("j-a")]))
    await a1.run("batch", LEASE, 60_000, batch_items([add("j-a1"), add("j-a1b")]))
    await odd.run("batch", LEASE, 60_000, batch_items([add("j-odd")]))
    for link, mine in ((a, "j-a"), (a1, "j-a1"), (odd, "j-odd")):
        assert await field(direct, namespace, "owner", mine) == link.replica.encode()
        claim = await link.run("claim", LEASE, 500, "0", 0, -1)
        assert claim[1] == []  # nothing lost: it owns what it finds
    # a dies (its heartbeat lapses): its part goes, the others' stay.
    await direct.zadd(key(namespace, "replicas"), {"a": 1})
    await a1.run("claim", LEASE, 500, "0", 0, -1)
    members = await direct.zrange(key(namespace, "own"), 0, -1)
    assert sorted(members) == sorted([b"3:1:aj-odd", b"2:a1j-a1", b"2:a1j-a1b"])


async def test_a_namespace_of_the_layout_before_is_not_read(
    redis_server: RedisServer, direct: aioredis.Redis, namespace: str
) -> None:
    # A release with per-job keys (w:<job>, own:<replica>, end:<job>) left a watch due
    # and an ending in the namespace. This layout's keys have other names (v2:...): its
    # replicas start a fleet of their own, claim nothing of the old one, and a wait for
    # the old ending polls the job instead of taking the old record. Fails if an old
    # key is read (the old watch would be claimed with no statuses, the ending taken).
    old = f"evs_job_watch:{{{namespace}}}:"
    async with EvsSimulator(speed=1, seed=41) as sim:
        stale, ended = sim.add_job(timeline=RUNNING), sim.add_job(timeline=RUNNING)
        await direct.set(f"{old}epoch", "old-epoch")
        await direct.zadd(f"{old}due", {stale: 0})
        await direct.hset(f"{old}w:{stale}", mapping={"s": "RUNNING", "u": "{}", "owner": ""})
        await direct.set(f"{old}end:{ended}", '{"s":"SUCCESS"}')
        async with replica(sim, redis_server.url, namespace, "a") as a:
            handle = a.watch(ended)
            await until(lambda: bool(pollers(sim)[ended]), "a polls what it watches")
            await asyncio.sleep(0.3)  # claim cycles, if any would take the stale one
            assert not handle.done()  # the old ending was not taken
            assert stale not in pollers(sim)
            handle.cancel()
        assert await direct.get(f"{old}epoch") == b"old-epoch"
        assert await direct.zscore(f"{old}due", stale) == 0
    new = {name for name in NAMES if await direct.exists(key(namespace, name))}
    assert "epoch" in new and await field(direct, namespace, "owner", stale) is None
