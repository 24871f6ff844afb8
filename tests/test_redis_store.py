"""RedisStore against a real redis-server: replicas share one watch set.

Each replica is a watcher with its own HTTP session and store in this process; the
simulator's request log names the replica of every poll (its User-Agent). The chaos
test with processes killed outright is ``test_redis_chaos.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict

import pytest

from evs_job_watch import EventStream, JobWatcher, PollPolicy
from evs_job_watch.redis import RedisServer, RedisStore
from evs_job_watch.simulator import Duration, EvsSimulator, Reply

from .redis_fleet import (
    GUARD,
    POLICY,
    Seen,
    most_in_window,
    overlaps,
    pollers,
    polls,
    replica,
    until,
)


async def test_two_replicas_deliver_each_event_once_and_wait_from_anywhere(
    redis_server: RedisServer, namespace: str
) -> None:
    seen = Seen()
    async with EvsSimulator(speed=20, seed=3, failure_rate=0.2) as sim:
        jobs = [sim.create_job("createVolume", count=1 + n % 3) for n in range(30)]
        async with (
            replica(sim, redis_server.url, namespace, "a", seen) as a,
            replica(sim, redis_server.url, namespace, "b", seen) as b,
        ):
            for job in jobs[:15]:
                a.watch(job)
            for job in jobs[15:]:
                b.watch(job)
            # Each replica waits for every job, whoever polls it.
            results = await asyncio.wait_for(
                asyncio.gather(
                    a.wait_all(jobs, return_exceptions=True),
                    b.wait_all(jobs, return_exceptions=True),
                ),
                GUARD,
            )
        family = {job: [job, *sim.sub_job_ids(job)] for job in jobs}
    for on_replica in results:
        for job, result in zip(jobs, on_replica):
            outcome = sim.outcome(job)
            got = getattr(result, "job", result)
            assert got.status.value == outcome, (job, result)
    deliveries = seen.deliveries()
    assert all(count == 1 for count in deliveries.values()), deliveries.most_common(3)
    for job, members in family.items():
        for one in members:
            outcome = sim.outcome(one)
            kind = "complete" if outcome == "SUCCESS" else "fail"
            assert deliveries[("change", one, outcome)] == 1, (job, one)
            assert deliveries[(kind, one, outcome)] == 1, (job, one)
    # Both replicas polled; no job was polled by both within one interval.
    assert {record.agent for record in polls(sim)} == {"a", "b"}
    assert overlaps(sim, POLICY.interval) == []


async def test_watching_one_job_on_every_replica_is_one_watch(
    redis_server: RedisServer, namespace: str
) -> None:
    seen = Seen()
    async with EvsSimulator(speed=2, seed=4) as sim:
        job = sim.add_job(timeline=[(0, "INIT"), (1, "RUNNING"), (2, "SUCCESS")])
        async with (
            replica(sim, redis_server.url, namespace, "a", seen) as a,
            replica(sim, redis_server.url, namespace, "b", seen) as b,
            replica(sim, redis_server.url, namespace, "c", seen) as c,
        ):
            ends = await asyncio.wait_for(
                asyncio.gather(a.wait(job), b.wait(job), c.wait(job)), GUARD
            )
    assert {end.status.value for end in ends} == {"SUCCESS"}
    assert len({agent for _, agent in pollers(sim)[job]}) == 1  # one replica polled it
    assert sorted(seen.deliveries()) == [
        ("change", job, "INIT"),
        ("change", job, "RUNNING"),
        ("change", job, "SUCCESS"),
        ("complete", job, "SUCCESS"),
    ]
    assert max(seen.deliveries().values()) == 1


async def test_event_streams_of_every_replica_see_every_event(
    redis_server: RedisServer, namespace: str
) -> None:
    async with EvsSimulator(speed=20, seed=5) as sim:
        jobs = [sim.create_job("createVolume", count=2) for _ in range(4)]
        async with (
            replica(sim, redis_server.url, namespace, "a") as a,
            replica(sim, redis_server.url, namespace, "b") as b,
        ):
            heard: defaultdict[str, list[tuple[str, str, bool]]] = defaultdict(list)

            async def listen(name: str, stream: EventStream) -> None:
                async for event in stream:
                    heard[name].append((event.job_id, event.status.value, event.is_sub_job))

            listeners = [
                asyncio.ensure_future(listen(name, watcher.events()))
                for name, watcher in (("a", a), ("b", b))
            ]
            for job in jobs:
                a.watch(job)
            await asyncio.wait_for(a.wait_all(jobs), GUARD)
            ends = {(job, "SUCCESS", False) for job in jobs}
            await until(
                lambda: ends <= set(heard["a"]) and ends <= set(heard["b"]), "the ends arrive"
            )
            await asyncio.sleep(0.2)  # anything else would be here by now
        await asyncio.gather(*listeners)  # the streams end with their watchers
    # Every job and each of its two sub-jobs ended, and a heard it (a RUNNING may be
    # missed at this speed by a late poll: not counted).
    ended = {job for job, status, _ in heard["a"] if status in ("SUCCESS", "FAIL")}
    assert len(ended) == 4 * 3
    assert sorted(heard["a"]) == sorted(heard["b"])
    assert {(job, "SUCCESS", False) for job in jobs} <= set(heard["b"])


async def test_an_event_stream_hears_the_fleet_s_events_from_the_moment_it_opens(
    redis_server: RedisServer, namespace: str
) -> None:
    # Leases of 30 s: a's claim cycles come 7.5 s apart, and nothing kicks one sooner
    # (a polls two watches, its share; b takes the new job in its own add, so no "work"
    # is told). a opens an event stream, then b watches a job and delivers its events:
    # a's stream must hear every one of them. Fails if the stream hears the fleet only
    # from the claim cycle after it opened (it would hear none). b records its first
    # event at least one poll and two batch windows after a asked where the events end.
    seen = Seen()
    never = [(0, "INIT"), (600, "SUCCESS")]
    async with EvsSimulator(speed=1, seed=7) as sim:
        busy = [sim.add_job(timeline=never) for _ in range(2)]
        async with replica(sim, redis_server.url, namespace, "a", lease=30.0) as a:
            for job in busy:
                a.watch(job)
            await until(lambda: all(pollers(sim)[job] for job in busy), "a polls both")
            async with replica(sim, redis_server.url, namespace, "b", seen, lease=30.0) as b:
                heard: list[str] = []

                async def listen(stream: EventStream) -> None:
                    async for event in stream:
                        heard.append(event.status.value)

                listener = asyncio.ensure_future(listen(a.events()))
                job = sim.add_job(timeline=[(0, "INIT"), (0.5, "RUNNING"), (1.0, "SUCCESS")])
                await asyncio.wait_for(b.wait(job), GUARD)
                await until(lambda: "SUCCESS" in heard, "a hears the job end")
        await listener
    delivered = [status for _, kind, _, status in seen.lines if kind == "change"]
    assert delivered[-1] == "SUCCESS"
    assert heard == delivered  # every event b delivered, the first one too
    assert {agent for _, agent in pollers(sim)[job]} == {"b"}


async def test_a_job_that_ended_is_answered_from_redis_without_a_poll(
    redis_server: RedisServer, namespace: str
) -> None:
    async with EvsSimulator(speed=20, seed=6) as sim:
        job = sim.create_job("createVolume")
        async with replica(sim, redis_server.url, namespace, "a") as a:
            first = await asyncio.wait_for(a.wait(job), GUARD)
        before = len(polls(sim))
        seen = Seen()
        async with replica(sim, redis_server.url, namespace, "late", seen) as late:
            again = await asyncio.wait_for(late.wait(job), GUARD)
    assert again == first
    assert len(polls(sim)) == before  # nobody polled it again
    assert seen.lines == []  # and no event fired twice


async def test_a_closing_replica_hands_its_watches_to_the_others(
    redis_server: RedisServer, namespace: str
) -> None:
    lease = 5.0  # longer than this test waits: only a handover can explain the takeover
    async with EvsSimulator(speed=1, seed=7) as sim:
        jobs = [sim.add_job(timeline=[(0, "INIT"), (3, "SUCCESS")]) for _ in range(6)]
        async with replica(sim, redis_server.url, namespace, "b", lease=lease) as b:
            async with replica(sim, redis_server.url, namespace, "a", lease=lease) as a:
                handles = [b.watch(job) for job in jobs]
                await until(lambda: a.stats.polls > 0 and b.stats.polls > 0, "both poll")
            closed_at = asyncio.get_running_loop().time()
            results = await asyncio.wait_for(asyncio.gather(*handles), GUARD)
        by_job = pollers(sim)
    assert {result.status.value for result in results} == {"SUCCESS"}
    taken = [job for job in jobs if {agent for _, agent in by_job[job]} == {"a", "b"}]
    assert taken, "a polled some jobs and b took them over"
    for job in taken:
        first_by_b = min(t for t, agent in by_job[job] if agent == "b" and t > closed_at - 1)
        assert first_by_b - closed_at < lease / 2
    assert overlaps(sim, POLICY.interval) == []


async def test_released_everywhere_stops_polling_held_elsewhere_goes_on(
    redis_server: RedisServer, namespace: str
) -> None:
    async with EvsSimulator(speed=1, seed=8) as sim:
        job = sim.add_job(timeline=[(0, "INIT")])  # never ends
        async with (
            replica(sim, redis_server.url, namespace, "a") as a,
            replica(sim, redis_server.url, namespace, "b") as b,
        ):
            on_a, on_b = a.watch(job), b.watch(job)
            await until(lambda: len(polls(sim)) >= 3, "polled")
            on_a.cancel()
            await asyncio.sleep(0.3)
            count = len(polls(sim))
            await until(lambda: len(polls(sim)) > count, "still polled for b")
            on_b.cancel()
            await until(lambda: not b.watching() and not a.watching(), "released everywhere")
            await asyncio.sleep(0.3)
            count = len(polls(sim))
            await asyncio.sleep(0.5)
            assert len(polls(sim)) == count


async def test_the_fleet_stays_within_one_rate_limit(
    redis_server: RedisServer, namespace: str
) -> None:
    rate = 40.0
    policy = PollPolicy(interval=0.01, max_interval=0.01, jitter=0.0)
    async with EvsSimulator(speed=1, seed=9) as sim:
        jobs = [sim.add_job(timeline=[(0, "INIT")]) for _ in range(30)]
        async with (
            replica(sim, redis_server.url, namespace, "a", rate_limit=rate, policy=policy) as a,
            replica(sim, redis_server.url, namespace, "b", rate_limit=rate, policy=policy) as b,
        ):
            for n, job in enumerate(jobs):
                (a if n % 2 else b).watch(job)
            await asyncio.sleep(2.0)
        times = [r.arrived for r in polls(sim) if r.arrived is not None]
    by_agent = {r.agent for r in polls(sim)}
    assert by_agent == {"a", "b"}
    assert len(times) > rate  # the limit was what held the fleet back
    # The replicas' shares of the limit never add up to more than it: over the run the
    # fleet sent at the limit at most. Within any one second, requests whose sleep a
    # stalled loop (two replicas and the simulator share this process) ended late may
    # bunch up, as with a single watcher's own limit.
    assert len(times) / (max(times) - min(times)) <= rate * 1.03
    assert most_in_window(times, 1.0) <= rate * 1.25 + 2


async def test_a_429_on_one_replica_pauses_the_others(
    redis_server: RedisServer, namespace: str
) -> None:
    pause = 0.6
    async with EvsSimulator(speed=1, seed=10) as sim:
        jobs = [sim.add_job(timeline=[(0, "INIT")]) for _ in range(8)]
        async with (
            replica(sim, redis_server.url, namespace, "a") as a,
            replica(sim, redis_server.url, namespace, "b") as b,
        ):
            for n, job in enumerate(jobs):
                (a if n % 2 else b).watch(job)
            await until(lambda: {r.agent for r in polls(sim)} == {"a", "b"}, "both poll")
            await asyncio.sleep(0.3)
            owner = {job: agents[-1][1] for job, agents in pollers(sim).items()}
            victim = next(job for job, agent in owner.items() if agent == "a")
            sim.inject(victim, Reply(status=429, headers={"Retry-After": str(pause)}))
            await until(lambda: a.stats.throttled == 1, "a is throttled")
            throttled_at = next(r.arrived for r in polls(sim) if r.fault == "injected")
            await asyncio.sleep(pause + 0.5)
    assert throttled_at is not None
    by_b = sorted(r.arrived for r in polls(sim) if r.agent == "b" and r.arrived is not None)
    # b heard of it through the fleet (a round trip after the 429, longer on a busy
    # machine) and sent nothing for the whole pause from then on: its requests, about one
    # every 12 ms otherwise, leave a gap of at least the pause, begun before it ended.
    gaps = [
        later - earlier
        for earlier, later in itertools.pairwise(by_b)
        if earlier < throttled_at + pause and later > throttled_at
    ]
    assert max(gaps, default=0.0) >= pause - 0.1
    assert [t for t in by_b if t > throttled_at + pause]  # and went on after it


async def test_redis_killed_and_restarted_mid_run_loses_no_watch(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    # Jobs end 0.5-5 s from now: before the kill, while Redis is down, and after.
    spread = Duration(2.0, 0.6, 0.5, 5.0)
    durations = {"createVolume": spread, "batchCreateVolume": spread}
    caplog.set_level(logging.WARNING, logger="evs_job_watch")
    with RedisServer() as server:
        async with EvsSimulator(speed=1, seed=11, failure_rate=0.2, durations=durations) as sim:
            jobs = [sim.create_job("createVolume", count=1 + n % 2) for n in range(20)]
            async with (
                replica(sim, server.url, namespace, "a", seen) as a,
                replica(sim, server.url, namespace, "b", seen) as b,
            ):
                for n, job in enumerate(jobs):
                    (a if n % 2 else b).watch(job)
                waiting = asyncio.gather(
                    a.wait_all(jobs[:10], return_exceptions=True),
                    b.wait_all(jobs[10:], return_exceptions=True),
                )
                await until(lambda: len(seen.lines) > 20, "events flow")
                server.kill()
                await asyncio.sleep(1.5)  # longer than a lease: the bookkeeping stalls
                server.start()
                results = await asyncio.wait_for(waiting, GUARD)
    for job, result in zip(jobs, [*results[0], *results[1]]):
        got = getattr(result, "job", result)
        assert got.status.value == sim.outcome(job), (job, result)
    deliveries = seen.deliveries()
    for job in jobs:
        for one in [job, *sim.sub_job_ids(job)]:
            assert deliveries[("change", one, sim.outcome(one))] >= 1, one
    messages = [record.getMessage() for record in caplog.records]
    assert any("Redis lost the watch set" in message for message in messages)


async def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="namespace"):
        RedisStore("redis://127.0.0.1:1", namespace="a:b")
    with pytest.raises(ValueError, match="lease"):
        RedisStore("redis://127.0.0.1:1", lease=0)
    with pytest.raises(ValueError, match="replica"):
        RedisStore("redis://127.0.0.1:1", replica="x y")
    with pytest.raises(ValueError, match="either store or state_path"):
        JobWatcher(object(), store=RedisStore("redis://127.0.0.1:1"), state_path="x")  # type: ignore[arg-type]


async def test_an_unreachable_redis_stops_async_with_after_open_timeout() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", open_timeout=0.3)
    with pytest.raises(ConnectionError, match=r"did not answer within 0\.3 s"):
        async with JobWatcher(object(), store=store):  # type: ignore[arg-type]
            pytest.fail("opened without Redis")


def test_repr_never_shows_the_url() -> None:
    store = RedisStore("redis://:hunter2@127.0.0.1:1/0", namespace="svc", replica="r1")
    assert "hunter2" not in repr(store)
    assert repr(store) == "<RedisStore 'svc' replica 'r1'>"


async def test_a_replica_that_starts_cold_takes_what_the_fleet_learned_of_durations(
    redis_server: RedisServer, namespace: str
) -> None:
    # a watches jobs to their end and learns how long they took; it shares that with the
    # fleet (at close). b starts afterwards, cold, and its poll schedule starts from it:
    # its snapshot keeps the same durations. A third replica adds nothing twice.
    async with EvsSimulator(speed=20, seed=28) as sim:
        jobs = [sim.create_job("createVolume") for _ in range(6)]
        async with replica(sim, redis_server.url, namespace, "a") as a:
            await asyncio.wait_for(a.wait_all(jobs), GUARD)
            learned = a.snapshot().get("learned", {})
        assert learned and all(learned.values())
        async with replica(sim, redis_server.url, namespace, "b") as b:
            assert b.snapshot().get("learned") == learned
        async with replica(sim, redis_server.url, namespace, "c") as c:
            assert c.snapshot().get("learned") == learned
