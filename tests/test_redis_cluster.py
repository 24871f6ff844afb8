"""RedisStore on a real Redis Cluster: three masters of the same server binary, started
once for the module (``RedisClusterServer``).

A namespace's keys all carry its hash tag, so they live in one slot; the fleet script is
called with its fixed keys declared, so the cluster client sends it to that slot's master.
The namespaces used here land on different masters, so a call sent without its keys (to
a random master) would be refused by most of them.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from importlib import resources

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from evs_job_watch import JobWatcher, WatchTimeoutError
from evs_job_watch.redis import RedisClusterServer, RedisStore
from evs_job_watch.redis._link import NAMES, prefix
from evs_job_watch.simulator import EvsSimulator

from .canary import CANARY, Exposure
from .redis_fleet import GUARD, POLICY, Seen, overlaps, polls, replica, until

WRONG = "not-the-password-4e1a"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServer]:
    with RedisClusterServer(masters=3) as servers:
        yield servers


def on_each_master(cluster: RedisClusterServer, stem: str) -> list[str]:
    """One namespace per master (in the order of ``cluster.servers``), each named ``stem``
    and a number, whose hash tag's slot that master serves."""
    found: dict[int, str] = {}
    for n in itertools.count():
        name = f"{stem}{n}"
        for port, (first, last) in cluster.slots().items():
            if first <= key_slot(name.encode()) <= last:
                found.setdefault(port, name)
        if len(found) == len(cluster.servers):
            return [found[server.port] for server in cluster.servers]
    raise AssertionError("unreachable")


def serving(cluster: RedisClusterServer, namespace: str) -> int:
    """The port of the master serving ``namespace``'s slot."""
    slot = key_slot(namespace.encode())
    return next(port for port, (a, b) in cluster.slots().items() if a <= slot <= b)


async def test_a_fleet_on_a_cluster_delivers_each_event_once_and_answers_waits_everywhere(
    cluster: RedisClusterServer,
) -> None:
    namespace = on_each_master(cluster, "fleet")[2]  # not served by the URL's server
    seen = Seen()
    async with EvsSimulator(speed=40, seed=11, failure_rate=0.2) as sim:
        jobs = [sim.create_job("createVolume", count=1 + n % 3) for n in range(20)]
        async with (
            replica(sim, cluster.url, namespace, "a", seen, rate_limit=500) as a,
            replica(sim, cluster.url, namespace, "b", seen, rate_limit=500) as b,
        ):
            for n, job in enumerate(jobs):
                (a if n % 2 else b).watch(job)
            # While the jobs run: their watches, leases and shares, all in the one slot.
            running: set[str] = set()
            while not {"w", "own", "due", "replicas", "share"} <= running:
                running = kinds(await keys_of(cluster, namespace))
                await asyncio.sleep(0.02)
            results = await asyncio.wait_for(
                asyncio.gather(
                    a.wait_all(jobs, return_exceptions=True),
                    b.wait_all(jobs, return_exceptions=True),
                ),
                GUARD,
            )
        family = {one for job in jobs for one in (job, *sim.sub_job_ids(job))}
        outcomes = {one: sim.outcome(one) for one in family}
    for on_replica in results:
        for job, result in zip(jobs, on_replica, strict=True):
            assert getattr(result, "job", result).status.value == outcomes[job], (job, result)
    deliveries = seen.deliveries()
    assert all(count == 1 for count in deliveries.values()), deliveries.most_common(3)
    for one, outcome in outcomes.items():
        kind = "complete" if outcome == "SUCCESS" else "fail"
        assert deliveries[("change", one, outcome)] == 1, one
        assert deliveries[(kind, one, outcome)] == 1, one
    assert {record.agent for record in polls(sim)} == {"a", "b"}
    assert overlaps(sim, POLICY.interval) == []

    # What the fleet left (endings, streams, epoch) is in the one slot too; and no key
    # exists in the namespace but those the script is given (the per-job and per-replica
    # keys of the layout before, w:, own: and end:, would be found here).
    left = kinds(await keys_of(cluster, namespace))
    assert {"epoch", "log", "events", "ended", "kept"} <= left
    assert left <= set(NAMES), left - set(NAMES)


async def keys_of(cluster: RedisClusterServer, namespace: str) -> list[bytes]:
    """The namespace's keys, found on every master; checked to be all in its one slot, on
    the master that serves it."""
    slot, home = key_slot(namespace.encode()), serving(cluster, namespace)
    found: dict[int, list[bytes]] = {}
    for server in cluster.servers:
        async with aioredis.Redis(port=server.port) as node:
            pattern = f"evs_job_watch:{{{namespace}}}:*"
            keys = [key async for key in node.scan_iter(match=pattern)]
            found[server.port] = keys
            assert {await node.cluster("KEYSLOT", key) for key in keys} <= {slot}
    assert [port for port, keys in found.items() if keys] in ([home], [])
    return found[home]


def kinds(keys: list[bytes]) -> set[str]:
    """The names of keys after their prefix (``due`` of ``evs_job_watch:{ns}:v2:due``)."""
    return {key.decode().rsplit(":", 1)[1] for key in keys}


async def test_every_way_of_connecting_works_on_every_master(cluster: RedisClusterServer) -> None:
    """A URL (found out to be a cluster's), ``cluster=True``, and a client of one's own,
    each in a namespace served by another master."""
    found, given, own = on_each_master(cluster, "ways")
    client = RedisCluster.from_url(cluster.servers[1].url.rsplit("/", 1)[0])
    async with EvsSimulator(speed=100, seed=12) as sim:
        jobs = [sim.create_job("createVolume", count=2) for _ in range(3)]
        async with (
            replica(sim, f"{cluster.url}/0", found, "found") as a,
            replica(sim, cluster.url, given, "given", cluster=True) as b,
            replica(sim, client, own, "own") as c,  # type: ignore[arg-type]
        ):
            for watcher, job in zip((a, b, c), jobs, strict=True):
                watcher.watch(job)
            results = await asyncio.wait_for(
                asyncio.gather(*(w.wait(job) for w, job in zip((a, b, c), jobs, strict=True))),
                GUARD,
            )
        assert [r.status.value for r in results] == [sim.outcome(job) for job in jobs]
    # The caller's own client is the caller's to close: still usable.
    assert await client.ping()
    await client.aclose()
    for namespace in (found, given, own):
        async with aioredis.Redis(port=serving(cluster, namespace)) as node:
            assert await node.exists(f"{prefix(namespace)}epoch")


async def test_a_script_call_without_its_keys_is_refused(cluster: RedisClusterServer) -> None:
    """The fleet script refuses a call whose KEYS are not the namespace's fixed keys, and
    the cluster refuses a script touching a key of a slot its master does not serve: so a
    call that forgot its keys fails on these tests instead of passing by chance."""
    script = resources.files("evs_job_watch.redis").joinpath("fleet.lua").read_text()
    namespaces = on_each_master(cluster, "keys")
    start = prefix(namespaces[0])
    args = (start, "check", "r1", "no-epoch")
    async with RedisCluster.from_url(cluster.url) as client:
        with pytest.raises(redis.ResponseError, match="undeclared key"):
            await client.eval(script, 0, *args)
        with pytest.raises(redis.ResponseError, match="undeclared key"):
            await client.eval(script, 1, f"{start}epoch", *args)
        declared = [f"{start}{name}" for name in NAMES]
        answer = await client.eval(script, len(declared), *declared, *args)
        assert answer[0] == b"reset"  # it ran: the epoch given was not the fleet's
    # A master that does not serve the namespace's slot refuses to run it there, even
    # with the keys declared (the cluster client would have sent it to the right one).
    elsewhere = cluster.servers[1].port
    async with aioredis.Redis(port=elsewhere) as node:
        with pytest.raises(redis.exceptions.MovedError):
            await node.eval(script, len(declared), *declared, *args)
        touch = "return redis.call('GET', ARGV[1])"
        with pytest.raises(redis.ResponseError, match="non local key"):
            await node.eval(touch, 0, f"{start}epoch")


def test_a_cluster_refuses_no_masters() -> None:
    with pytest.raises(ValueError, match="masters must be at least 1"):
        RedisClusterServer(masters=0)


def test_slots_are_shared_out_whole() -> None:
    servers = RedisClusterServer(masters=3)
    ranges = sorted(servers.slots().values())
    assert ranges[0][0] == 0 and ranges[-1][1] == 16383
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))


def test_every_key_the_script_touches_is_one_of_its_keys() -> None:
    """Read in the script's text: each ``redis.call`` names its key by one of the locals
    bound to ``KEYS`` (in the order of ``NAMES``, which the script's own check lists),
    never by a name it makes (``P .. 'w:' .. job``). Covers the branches the fleet tests
    below may not reach; a key made by the script, or a local not bound to ``KEYS``,
    fails here."""
    script = resources.files("evs_job_watch.redis").joinpath("fleet.lua").read_text()
    listed = re.search(r"local FIXED = \{([^}]*)\}", script)
    assert listed is not None
    assert re.findall(r"'([^']*)'", listed.group(1)) == list(NAMES)
    assert "KEYS[i] ~= P .. name" in script
    bound: dict[str, int] = {}
    binding = r"local ([A-Z_, ]+) =\s*((?:KEYS\[\d+\],?\s*)+)"
    for names, values in re.findall(binding, script):
        locals_ = [name.strip() for name in names.split(",")]
        indexes = [int(n) for n in re.findall(r"KEYS\[(\d+)\]", values)]
        bound.update(zip(locals_, indexes, strict=True))
    assert sorted(bound.values()) == list(range(1, len(NAMES) + 1))
    rest = re.sub(binding, "", script)
    for name in bound:  # bound once, never assigned again
        assert not re.search(rf"^\s*(local )?[A-Z_, ]*\b{name}\b[A-Z_, ]*=[^=]", rest, re.M), name
    assert "redis.pcall" not in script and "redis.call(" in script
    assert len(re.findall(r"redis\.call\(", script)) == len(re.findall(r"redis\.call\('", script))
    calls = re.findall(r"redis\.call\('(\w+)'(?:,\s*([^,)]+))?", script)
    assert len(calls) > 40  # the parse found the calls
    keyless = {"TIME"}
    for command, first in calls:
        if command in keyless:
            assert not first, command
            continue
        assert first in bound, (command, first)


async def test_a_fleet_touches_no_key_but_those_it_declares(cluster: RedisClusterServer) -> None:
    """Proven by the servers: the replicas log in as a user allowed the namespace's
    declared keys only, each by its exact name (``ACL SETUSER ... ~key``); every key a
    script touches is checked against them (as a proxy that checks a script's keys
    against its KEYS would), and a refused one is in ``ACL LOG``. The fleet here watches
    jobs that end, fail, time out (the fleet's deadline passes), are released and are
    handed back, with an event stream open and durations learned."""
    namespace = on_each_master(cluster, "acl")[1]
    declared = [f"{prefix(namespace)}{name}" for name in NAMES]
    user, password = "fleet-only", "acl-4f2b"
    for server in cluster.servers:
        async with aioredis.Redis(port=server.port) as node:
            await node.acl_log_reset()
            rules = ["on", f">{password}", "resetkeys", "+@all", *(f"~{k}" for k in declared)]
            await node.execute_command("ACL", "SETUSER", user, *rules)
    url = f"redis://{user}:{password}@127.0.0.1:{cluster.servers[0].port}"
    seen = Seen()
    try:
        async with EvsSimulator(speed=40, seed=15, failure_rate=0.3) as sim:
            jobs = [sim.create_job("createVolume", count=1 + n % 2) for n in range(8)]
            never = sim.add_job(timeline=[(0, "INIT"), (0.05, "RUNNING"), (600, "SUCCESS")])
            released = sim.add_job(timeline=[(0, "INIT"), (0.05, "RUNNING"), (600, "SUCCESS")])
            async with replica(sim, url, namespace, "a", seen) as a:
                async with replica(sim, url, namespace, "b", seen) as b:
                    events = b.events()
                    heard = asyncio.ensure_future(events.__anext__())
                    for n, job in enumerate(jobs):
                        (a if n % 2 else b).watch(job)
                    holds = [a.watch(released), b.watch(released)]
                    results = await asyncio.wait_for(
                        asyncio.gather(
                            a.wait_all(jobs, return_exceptions=True),
                            b.wait_all(jobs, return_exceptions=True),
                        ),
                        GUARD,
                    )
                    outcomes = [sim.outcome(job) for job in jobs]
                    await asyncio.wait_for(heard, GUARD)
                    events.close()
                    with pytest.raises(WatchTimeoutError):
                        await asyncio.wait_for(a.wait(never, timeout=0.3), GUARD)
                    for handle in holds:  # released on both: the fleet's watch ends
                        handle.cancel()
                # b closed: it handed back what it polled, said goodbye. A late wait
                # is answered from the ending the fleet kept.
                late = await asyncio.wait_for(a.wait_all(jobs[:1], return_exceptions=True), GUARD)
                assert getattr(late[0], "job", late[0]).status.value == outcomes[0]
    finally:
        refused = []
        for server in cluster.servers:
            async with aioredis.Redis(port=server.port) as node:
                refused += [(e["reason"], e["object"]) for e in await node.acl_log()]
                await node.acl_deluser(user)
        assert refused == [], refused
    for on_replica in results:
        statuses = [getattr(result, "job", result).status.value for result in on_replica]
        assert statuses == outcomes
    assert seen.deliveries()
    assert kinds(await keys_of(cluster, namespace)) <= set(NAMES)


async def test_a_cluster_with_a_password(exposure: Exposure) -> None:
    """The password in the URL reaches every node; a wrong one ends ``async with`` at
    once (found out as a cluster or said to be one), and is never shown."""
    exposure.also_secret(WRONG)
    with RedisClusterServer(masters=1, password=CANARY) as locked:
        base = locked.url.removeprefix("redis://")
        for cluster in (None, True):
            store = RedisStore(f"redis://:{WRONG}@{base}", open_timeout=GUARD, cluster=cluster)
            with pytest.raises(ConnectionError, match="refused the credentials") as caught:
                async with JobWatcher(object(), store=store):  # type: ignore[arg-type]
                    pytest.fail("opened with a wrong password")
            exposure.error(f"open, cluster={cluster}", caught.value)
            exposure.show("store", store)
        async with EvsSimulator(speed=100, seed=13) as sim:
            job = sim.create_job("createVolume")
            async with replica(sim, f"redis://:{CANARY}@{base}", "locked", "a") as a:
                assert (await asyncio.wait_for(a.wait(job), GUARD)).status.value == "SUCCESS"
    exposure.assert_clean()


async def test_an_unreachable_cluster_stops_async_with_after_open_timeout() -> None:
    store = RedisStore(f"redis://:{CANARY}@127.0.0.1:1", cluster=True, open_timeout=0.3)
    with pytest.raises(ConnectionError, match=r"did not answer within 0\.3 s") as caught:
        async with JobWatcher(object(), store=store):  # type: ignore[arg-type]
            pytest.fail("opened without Redis")
    assert CANARY not in str(caught.value)


async def test_a_slot_without_a_master_for_a_while_is_waited_out(
    cluster: RedisClusterServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A cluster that stops serving the namespace's slot (``CLUSTER DELSLOTS``: the
    cluster's state is ``fail``, its answers ``CLUSTERDOWN``) stalls the store; once the
    slot is served again, the watch started meanwhile is answered, delivered once."""
    namespace = on_each_master(cluster, "down")[2]
    slot, home = key_slot(namespace.encode()), serving(cluster, namespace)
    seen = Seen()
    async with EvsSimulator(speed=100, seed=14) as sim:
        before, during = sim.create_job("createVolume"), sim.create_job("createVolume")
        async with (
            replica(sim, cluster.url, namespace, "a", seen) as a,
            aioredis.Redis(port=home) as master,
        ):
            await asyncio.wait_for(a.wait(before), GUARD)
            await master.execute_command("CLUSTER", "DELSLOTS", slot)
            try:
                a.watch(during)
                await until(
                    lambda: "Redis is unreachable" in caplog.text, "the store notices", GUARD
                )
            finally:
                await master.execute_command("CLUSTER", "ADDSLOTS", slot)
            job = await asyncio.wait_for(a.wait(during), GUARD)
        assert job.status.value == sim.outcome(during) == "SUCCESS"
    assert seen.deliveries()[("complete", during, "SUCCESS")] == 1
