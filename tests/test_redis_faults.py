"""RedisStore through Redis faults: every event delivered once, every update kept.

A real redis-server, killed and started again on its port (empty: no persistence),
under replicas in this process (``redis_fleet.replica``). The chaos test with whole
processes killed is ``test_redis_chaos.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import pytest
import redis.asyncio as aioredis

from evs_job_watch import PollPolicy
from evs_job_watch.redis import RedisServer, RedisStore
from evs_job_watch.redis._ledger import Ledger
from evs_job_watch.redis._link import MAX_DELAY, Link
from evs_job_watch.redis._pace import FleetPace
from evs_job_watch.redis._wire import batch_items
from evs_job_watch.simulator import EvsSimulator

from .netkit import Relay
from .redis_fleet import (
    GUARD,
    Seen,
    field,
    most_in_window,
    pollers,
    polls,
    replica,
    set_field,
    until,
)

# The reproduction, made quick: two replicas wait for every job; Redis dies while
# jobs end, and comes back empty. Each event must still be delivered once in the fleet.
QUICK = PollPolicy(interval=0.1, max_interval=0.2, latency=None, max_consecutive_errors=1000)


async def test_redis_restarted_empty_mid_run_delivers_every_event_once(namespace: str) -> None:
    rng = random.Random(23)
    seen = Seen()
    with RedisServer() as server:
        async with EvsSimulator(speed=1, seed=23) as sim:
            jobs = [
                sim.add_job(
                    timeline=[(0, "INIT"), (0.2, "RUNNING"), (rng.uniform(0.4, 2.5), "SUCCESS")]
                )
                for _ in range(40)
            ]
            async with (
                replica(sim, server.url, namespace, "a", seen, policy=QUICK, rate_limit=60) as a,
                replica(sim, server.url, namespace, "b", seen, policy=QUICK, rate_limit=60) as b,
            ):
                waits = asyncio.gather(a.wait_all(jobs), b.wait_all(jobs))
                await asyncio.sleep(0.5)
                server.kill()
                await asyncio.sleep(0.8)
                await asyncio.to_thread(server.start)  # the same port, empty
                ends = await asyncio.wait_for(waits, GUARD)
                await asyncio.sleep(1.0)  # a late repeat would come within this
            times = [record.arrived for record in polls(sim) if record.arrived is not None]
    assert all(job.status.value == "SUCCESS" for end in ends for job in end)
    # The fleet's rate_limit (60/s) held through the restart, give or take 10% over 2 s:
    # a replica holds its share until the others' are given out anew.
    assert most_in_window(times, 2.0) <= 2 * 60 * 1.1
    deliveries = seen.deliveries()
    assert {job for kind, job, _ in deliveries if kind == "complete"} == set(jobs)
    assert [key for key, count in deliveries.items() if count > 1] == []


async def test_an_ending_seen_while_redis_was_down_is_recorded_when_it_is_back_empty(
    namespace: str,
) -> None:
    seen = Seen()
    with RedisServer() as server:
        async with EvsSimulator(speed=1, seed=24) as sim:
            job = sim.add_job(timeline=[(0, "INIT"), (0.6, "SUCCESS")])
            async with replica(sim, server.url, namespace, "a", seen, lease=3.0) as a:
                handle = a.watch(job)
                await until(lambda: bool(seen.lines), "polled")
                server.kill()
                # Its lease still holds (3 s): the job is polled, ends, and is delivered
                # here while Redis is down; the ending waits in the queue.
                await asyncio.wait_for(handle, GUARD)
                await asyncio.to_thread(server.start)  # the same port, empty
                client = aioredis.Redis.from_url(server.url)
                try:
                    recorded = None
                    for _ in range(500):  # the store sends it within its retry backoff
                        recorded = await field(client, namespace, "ended", job)
                        if recorded is not None:
                            break
                        await asyncio.sleep(0.02)
                finally:
                    await client.aclose()
                assert recorded is not None, "the ending was never recorded"
            before = len(polls(sim))
            async with replica(sim, server.url, namespace, "late", seen) as late:
                again = await asyncio.wait_for(late.wait(job), GUARD)
    assert again.status.value == "SUCCESS"
    assert len(polls(sim)) == before  # answered from the recorded ending
    assert seen.deliveries()[("complete", job, "SUCCESS")] == 1


async def test_a_replica_that_takes_a_watch_over_starts_from_what_was_delivered(
    redis_server: RedisServer, namespace: str
) -> None:
    # a polls a batch through RUNNING (its sub-jobs too), records it, and hands it over
    # as it closes; b takes it from the recorded statuses and delivers only what is new.
    # Fails if a record is dropped, if the claim forgets the delivered statuses, or if
    # the adopting watch ignores them: b would deliver RUNNING again.
    seen = Seen()
    steps = [(0, "INIT"), (0.2, "RUNNING"), (1.5, "SUCCESS")]
    lease = 5.0  # only the handover at close can give b the watch within this test
    async with EvsSimulator(speed=1, seed=25) as sim:
        job = sim.add_job(timeline=steps, sub_jobs=[steps, steps])
        family = [job, *sim.sub_job_ids(job)]
        running = {("change", one, "RUNNING") for one in family}
        async with contextlib.AsyncExitStack() as later:
            async with replica(sim, redis_server.url, namespace, "a", seen, lease=lease) as a:
                a.watch(job)  # a alone: a polls it
                await until(lambda: running <= set(seen.deliveries()), "a delivered RUNNING")
                b = await later.enter_async_context(
                    replica(sim, redis_server.url, namespace, "b", seen, lease=lease)
                )
                waiting = asyncio.ensure_future(b.wait(job))  # b follows it, and waits
                await asyncio.sleep(0.2)
            end = await asyncio.wait_for(waiting, GUARD)
        agents = {agent for _, agent in pollers(sim)[job]}
    assert end.status.value == "SUCCESS"
    assert agents == {"a", "b"}  # a polled it, then b
    by_replica = {(name, kind, one, status) for name, kind, one, status in seen.lines}
    assert {line for line in by_replica if line[0] == "b"} == {
        ("b", kind, one, "SUCCESS") for one in family for kind in ("change", "complete")
    }
    assert [key for key, count in seen.deliveries().items() if count > 1] == []


async def test_an_ending_recorded_while_a_waiter_s_link_was_down_still_answers_it(
    redis_server: RedisServer, namespace: str
) -> None:
    # b's link to Redis stalls (what Redis sends it is held back) while a records the
    # job's end, and then drops, losing what was held: b's wait is answered anyway.
    async with (
        EvsSimulator(speed=1, seed=26) as sim,
        Relay(to=("127.0.0.1", redis_server.port)) as relay,
    ):
        job = sim.add_job(timeline=[(0, "INIT"), (0.8, "SUCCESS")])
        direct = aioredis.Redis.from_url(redis_server.url)
        try:
            async with replica(sim, redis_server.url, namespace, "a") as a:
                a.watch(job)
                await until(lambda: bool(pollers(sim)[job]), "a polls it")
                async with replica(sim, f"redis://127.0.0.1:{relay.port}", namespace, "b") as b:
                    waiting = asyncio.ensure_future(b.wait(job))
                    for _ in range(500):  # until b's hold is counted: b follows it
                        if await field(direct, namespace, "holds", job) == b"2":
                            break
                        await asyncio.sleep(0.01)
                    relay.hold()
                    await asyncio.wait_for(a.wait(job), GUARD)
                    for _ in range(500):
                        if await field(direct, namespace, "ended", job):
                            break
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(0.1)  # the news is on its way to b, and held
                    assert not waiting.done()
                    relay.cut()
                    end = await asyncio.wait_for(waiting, 10.0)
        finally:
            await direct.aclose()
    assert end.status.value == "SUCCESS"
    assert {agent for _, agent in pollers(sim)[job]} == {"a"}  # b did not poll it itself


async def test_a_replica_whose_lease_lapsed_while_it_lived_stops_polling_and_says_so(
    redis_server: RedisServer, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    # a polls the job; what Redis sends a is then held back (a's calls hang: a stalled
    # link), so a's lease lapses and b takes the job over. When a's link comes back, a's
    # next claim cycle must tell it that another replica polls the job (Redis took a
    # for dead): a stops polling it and logs a warning naming it. Fails if the takeover
    # hides the loss from a (it once did: the job left a's set of owned jobs with the
    # takeover, so a renewed nothing, heard nothing, and polled on beside b).
    caplog.set_level(logging.WARNING, logger="evs_job_watch")
    async with (
        EvsSimulator(speed=1, seed=27) as sim,
        Relay(to=("127.0.0.1", redis_server.port)) as relay,
    ):
        job = sim.add_job(timeline=[(0, "INIT"), (0.1, "RUNNING"), (600, "SUCCESS")])
        async with replica(sim, f"redis://127.0.0.1:{relay.port}", namespace, "a") as a:
            a.watch(job)
            await until(lambda: bool(pollers(sim)[job]), "a polls it")
            async with replica(sim, redis_server.url, namespace, "b") as b:
                b.watch(job)
                relay.hold()
                await until(lambda: "b" in {r for _, r in pollers(sim)[job]}, "b takes it")
                relay.cut()
                lapsed = f"job {job}: its lease lapsed"
                await until(lambda: lapsed in caplog.text, "a is told it lost the job")
                taken = len(pollers(sim)[job])
                await until(lambda: len(pollers(sim)[job]) >= taken + 5, "b polls on")
    seen = pollers(sim)[job]
    first_b = next(n for n, (_, agent) in enumerate(seen) if agent == "b")
    assert [agent for _, agent in seen[first_b:]] == ["b"] * (len(seen) - first_b)


async def test_leases_held_when_redis_was_away_are_not_taken_by_the_first_replica_back(
    redis_server: RedisServer, namespace: str
) -> None:
    # The fleet script, called as two replicas' links call it. a owns a watch (lease
    # 0.3 s); then nobody reaches Redis for longer than the lease (Redis down, stalled,
    # or restarted with its data). b, back first, must not take a's watch: a has had no
    # chance to renew it or to send what it delivered meanwhile. Fails if the leases
    # lapse through the outage (b claims it, and delivers a's last events again).
    prefix = f"evs_job_watch:{{{namespace}}}:"
    client = aioredis.Redis.from_url(redis_server.url)
    lease = 300_000  # us
    try:
        a, b = (Link(client, prefix, name) for name in ("a", "b"))
        await a.hello()
        await b.hello()
        await a.run("claim", lease, 500, "0", 0)  # a's heartbeat
        add = [{"a": "add", "j": "job-1", "s": "RUNNING", "u": "{}", "h": 1, "o": 1}]
        result = await a.run("batch", lease, 60_000, batch_items(add))
        assert result[1][0][0] == b"claimed"
        await asyncio.sleep(0.5)  # no call for longer than the lease
        claim = await b.run("claim", lease, 500, "0", 0)
        assert claim[2] == []  # b took nothing
        again = await a.run("claim", lease, 500, "0", 0)
        assert again[1] == [] and again[6] == 0  # a still owns it, and is alive
        # While the fleet calls on (b, every 50 ms), a lapse is a lapse again.
        taken = []
        for _ in range(40):
            await asyncio.sleep(0.05)
            taken += [job for job, _, _ in (await b.run("claim", lease, 500, "0", 0))[2]]
            if taken:
                break
        assert taken == [b"job-1"]
    finally:
        await client.aclose()


async def test_a_replica_back_after_redis_lost_the_shares_is_granted_no_more_than_it_had(
    redis_server: RedisServer, namespace: str
) -> None:
    # Redis came back empty: the fleet's shares of the rate limit are gone, but replicas
    # not back yet may still spend theirs. The first one back, alone in the new fleet,
    # would be granted the whole limit; it asks for no more than it had (the cap), so
    # the shares never add up to more than the limit. Fails if the cap is ignored.
    client = aioredis.Redis.from_url(redis_server.url)
    lease = 1_000_000
    try:
        a = Link(client, f"evs_job_watch:{{{namespace}}}:", "a")
        await a.hello()
        whole = await a.run("claim", lease, 500, "60.0", 0, "-1")
        assert float(whole[5]) == 60.0  # alone, uncapped: the whole limit
        held = await a.run("claim", lease, 500, "60.0", 0, "12.5")
        assert float(held[5]) == 12.5
        pace = FleetPace(RedisStore(redis_server.url, namespace=namespace), 60.0)
        pace.granted(12.5)
        pace.hold(30.0)
        assert pace.asked() == ("60.0", 0, "12.5")
        pace.hold(0.0)  # the hold is over: no cap
        assert pace.asked() == ("60.0", 0, "-1.0")
    finally:
        await client.aclose()


async def test_after_redis_came_back_empty_a_watch_whose_poller_died_waits_a_grace(
    namespace: str,
) -> None:
    # a polls the job; b waits for it, following. a's link then stalls for good (a died
    # for the fleet), and Redis comes back empty. b adds the watch again due a grace later
    # (a lease and the longest retry delays, room for a poller to come back), then polls
    # it and answers its waiter; the job's ending is delivered once. Fails if a follower's
    # re-add is polled at once (it would race a poller back from a stall), or never.
    seen = Seen()
    lease = 1.0
    grace = lease + 2 * MAX_DELAY
    loop = asyncio.get_running_loop()
    with RedisServer() as server:
        async with (
            EvsSimulator(speed=1, seed=28) as sim,
            Relay(to=("127.0.0.1", server.port)) as relay,
        ):
            job = sim.add_job(timeline=[(0, "INIT"), (0.1, "RUNNING"), (2.0, "SUCCESS")])
            url = f"redis://127.0.0.1:{relay.port}"
            async with replica(sim, url, namespace, "a", seen, policy=QUICK, lease=lease) as a:
                a.watch(job)  # a alone: a polls it
                await until(lambda: bool(pollers(sim)[job]), "a polls it")
                async with replica(
                    sim, server.url, namespace, "b", seen, policy=QUICK, lease=lease
                ) as b:
                    waiting = asyncio.ensure_future(b.wait(job))
                    await asyncio.sleep(0.3)  # b's hold is counted: b follows it
                    relay.hold()
                    killed = loop.time()
                    server.kill()
                    await asyncio.to_thread(server.start)  # the same port, empty
                    end = await asyncio.wait_for(waiting, GUARD)
                    relay.cut()
            agents = pollers(sim)[job]
    assert end.status.value == "SUCCESS"
    assert agents[0][1] == "a"
    # The simulator's clock is the loop's: b's first poll came a grace after Redis was
    # back (and so after it was killed).
    first_b = min(t for t, agent in agents if agent == "b")
    assert first_b - killed >= grace
    assert seen.deliveries()[("complete", job, "SUCCESS")] == 1


async def test_a_record_lost_by_a_restore_from_an_older_snapshot_is_refused_and_logged(
    redis_server: RedisServer, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A Redis restored from a snapshot older than its last writes keeps its epoch: here,
    # the job's delivered status is set back by hand, as such a restore would. The owner's
    # next record expects the status it recorded: refused as a conflict, logged at INFO;
    # the job's ending is recorded all the same (a fact). Fails if a stale record is
    # overwritten silently, or if the ending is refused with it.
    caplog.set_level(logging.INFO, logger="evs_job_watch")
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        async with EvsSimulator(speed=1, seed=29) as sim:
            job = sim.add_job(timeline=[(0, "INIT"), (0.2, "RUNNING"), (1.0, "SUCCESS")])
            async with replica(sim, redis_server.url, namespace, "a") as a:
                handle = a.watch(job)
                for _ in range(int(GUARD / 0.02)):
                    if await field(direct, namespace, "s", job) == b"RUNNING":
                        break
                    await asyncio.sleep(0.02)
                await set_field(direct, namespace, "s", job, "INIT")  # the older snapshot's
                end = await asyncio.wait_for(handle, GUARD)
                await until(lambda: f"job {job}: the fleet's record moved on" in caplog.text, "")
                assert await field(direct, namespace, "ended", job)
    finally:
        await direct.aclose()
    assert end.status.value == "SUCCESS"


def test_endings_are_recorded_again_after_a_reset_only_from_the_last_two_leases() -> None:
    # What a replica records again when Redis comes back empty: the endings it recorded
    # in the two leases before the last one (the store keeps them ``2 * lease``). Fails
    # if older endings are kept (they would grow without bound) or recent ones dropped.
    ledger = Ledger(keep_for=2.0)
    for job, at in (("old", 0.0), ("mid", 1.5), ("new", 2.5)):
        ledger.remember(job, {"a": "end", "j": job}, at)
    assert [item["j"] for item in ledger.endings()] == ["mid", "new"]
    ledger.remember("mid", {"a": "end", "j": "mid", "again": 1}, 4.0)  # recorded again
    assert [item["j"] for item in ledger.endings()] == ["new", "mid"]
    ledger.remember("last", {"a": "end", "j": "last"}, 5.0)
    assert [item["j"] for item in ledger.endings()] == ["mid", "last"]
