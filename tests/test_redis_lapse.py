"""The fleet's deadline of a watch passes while this replica polls it and a caller here
still waits: the watch stops being polled here, and once the fleet hands it out again
it is polled on one cadence, not two: its place in the poller's schedule from before is
dropped (``FleetSide.lapsed``), and so is one that was out for a poll then (a ``Place``
from before its watch yielded is stale: ``Place.live``).

Replica a is a real watcher (a scripted job source records when each poll goes out)
whose link to a real redis-server runs through a ``netkit.Relay``; replica b is a
``Link`` whose script calls the test makes, so that who does what when is scripted.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import orjson
import pytest
import redis.asyncio as aioredis

from evs_job_watch import Job, JobWatcher, PollPolicy, WatchTimeoutError
from evs_job_watch.redis import RedisServer, RedisStore
from evs_job_watch.redis._link import Link
from evs_job_watch.redis._wire import batch_items

from .netkit import Relay
from .redis_fleet import GUARD, field, key, set_field, until
from .scripted import ScriptedClient, make_job

# One poll a second, exactly (no jitter, nothing learned): one place in the schedule
# polls a job no sooner than a second after its last poll; two places do, within it.
INTERVAL = 1.0
POLICY = PollPolicy(interval=INTERVAL, max_interval=INTERVAL, jitter=0, latency=None)
LEASE = 10.0  # seconds: a's leases outlive the stall of its link (a polls on through it)
B_LEASE = 60_000_000  # us: b keeps the watch it takes until it hands it back
KEEP = 60_000  # ms
EARLY = 1e-3  # seconds a loop timer may fire before its time, at most


async def expiries(client: aioredis.Redis, namespace: str) -> list[str]:
    entries = await client.xrange(key(namespace, "log"))
    messages = [orjson.loads(fields[b"m"]) for _, fields in entries]
    return [m["j"] for m in messages if m.get("k") == "exp"]


async def redis_now(client: aioredis.Redis) -> int:
    """Redis's clock (TIME), in us: the script's deadlines are on it."""
    seconds, micros = await client.time()
    return int(seconds) * 1_000_000 + int(micros)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until ``condition()`` holds (asked of Redis every 10 ms), for GUARD at most."""
    for _ in range(int(GUARD / 0.01)):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


async def test_a_watch_handed_out_anew_after_its_deadline_passed_is_polled_once_an_interval(
    redis_server: RedisServer, direct: aioredis.Redis, namespace: str
) -> None:
    # a holds job J for 1.5 s and polls it, one poll a second. As that deadline nears,
    # a's link stalls (nothing a sends reaches Redis) and a second caller of a waits for J
    # without a deadline: its lengthening of the fleet's deadline is stuck on the way.
    # The deadline passes; b's hold of J ends the fleet's watch (an "exp" entry on the
    # log) and starts a new one, which b takes. a's link recovers right after a poll of
    # J: a hears the expiry, and its waiting caller adds J anew (b's watch: a follows it).
    # b hands J back; a's next claim cycle takes it. From then on a polls J once a second,
    # never twice within a second. Reverting FleetSide.lapsed's drop of the yielded
    # watch's place fails it: the place from before the expiry stays in the schedule, and
    # J is polled on two cadences once a takes it again (its old place falls due less
    # than a second after the new one's first poll, since the recovery comes right after
    # a poll and the hand-back takes a few round trips). a does not poll J from the
    # moment it re-added it until b hands it back, and the waiting caller is answered.
    # Not pinned: the gap across the expiry (the fleet's new watch is due at once, so a
    # polls J as it takes it back, maybe within a second of its last poll before).
    loop = asyncio.get_running_loop()
    client = ScriptedClient()
    job = "j-lapse"
    client.script(job, make_job(job, "RUNNING"))
    b = Link(direct, namespace, "b")
    await b.hello()
    async with Relay(to=("127.0.0.1", redis_server.port)) as relay:
        store = RedisStore(
            f"redis://127.0.0.1:{relay.port}", namespace=namespace, lease=LEASE, replica="a"
        )
        async with JobWatcher(client, policy=POLICY, store=store) as a:
            first = a.watch(job, timeout=1.5)
            await until(lambda: bool(client.polls(job)), "a polls J")

            async def told() -> bool:
                return await field(direct, namespace, "dl", job) is not None

            await eventually(told, "the fleet knows J's deadline")
            deadline = int(await field(direct, namespace, "dl", job))
            assert await field(direct, namespace, "owner", job) == b"a"

            relay.hold(sends=True)
            second = a.watch(job)  # no deadline: its "dl" to the fleet waits in the relay
            with pytest.raises(WatchTimeoutError):
                await asyncio.wait_for(first, GUARD)
            assert not second.done()

            async def passed() -> bool:
                return await redis_now(direct) > deadline

            await eventually(passed, "J's deadline passed")
            item = {"a": "add", "j": job, "s": "", "u": "{}", "h": 1, "o": 0, "x": 60_000_000}
            added = await b.run("batch", B_LEASE, KEEP, batch_items([item]))
            assert added[1][0][0] == b"claimed"  # b's new watch of J, past the expired one
            assert await expiries(direct, namespace) == [job]

            polled = len(client.polls(job))
            await until(lambda: len(client.polls(job)) > polled, "a polls J through the stall")
            relay.flow()

            async def readding() -> bool:
                return await field(direct, namespace, "holds", job) == b"2"

            await eventually(readding, "a heard the expiry and added J anew")
            # a's caller waits without one:
            assert await field(direct, namespace, "dl", job) == b"none"
            readded = loop.time()
            await b.run("batch", B_LEASE, KEEP, batch_items([{"a": "back", "j": job, "d": 0}]))
            handed = loop.time()
            assert [t for t in client.polls(job) if readded <= t <= handed] == []

            await until(lambda: sum(t > handed for t in client.polls(job)) >= 3, "a polls J")
            assert await field(direct, namespace, "owner", job) == b"a"
            for polls in (
                [t for t in client.polls(job) if t < readded],
                [t for t in client.polls(job) if t > handed],
            ):
                gaps = [later - sooner for sooner, later in itertools.pairwise(polls)]
                assert min(gaps) >= INTERVAL - EARLY, f"J polled twice within a second: {gaps}"

            client.script(job, make_job(job, "SUCCESS"))
            end = await asyncio.wait_for(second, GUARD)
            assert end.status.value == "SUCCESS"


class Gated(ScriptedClient):
    """Answers only while ``gate`` is set; ``sent`` has the loop time of every request
    as it goes out (``calls`` has it as it is answered)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.sent: list[float] = []

    async def get_job(self, job_id: str) -> Job:
        self.sent.append(asyncio.get_running_loop().time())
        await self.gate.wait()
        return await super().get_job(job_id)


async def test_a_poll_out_as_the_deadline_passes_does_not_put_the_watch_back_twice(
    redis_server: RedisServer, direct: aioredis.Redis, namespace: str
) -> None:
    # a polls job J for a caller without a deadline; a poll of J is out (its answer held
    # back) when the fleet's deadline of J passes (moved into the past by hand, as by a
    # lengthening still on its way) and a's claim cycle ends the fleet's watch. a hears
    # it, adds J anew, takes it and polls it again, before the first poll's answer
    # comes. Once both answers are in, a polls J once a second, never twice within one.
    # Fails if the answer of a poll sent before the watch yielded puts its old place back
    # in the schedule (J would be polled twice a second from then on, as it was with
    # FleetSide.lapsed's fix alone, which drops only the places waiting in the heap).
    loop = asyncio.get_running_loop()
    client = Gated()
    job = "j-out"
    client.script(job, make_job(job, "RUNNING"))
    store = RedisStore(redis_server.url, namespace=namespace, lease=1.0, replica="a")
    async with JobWatcher(client, policy=POLICY, store=store) as a:
        handle = a.watch(job)
        await until(lambda: len(client.calls) >= 1, "a polls J")
        client.gate.clear()
        await until(lambda: len(client.sent) >= 2, "a's next poll of J is out")
        # Long past: a's next claim cycle ends it.
        await set_field(direct, namespace, "dl", job, "1")

        async def expired() -> bool:
            return job in await expiries(direct, namespace)

        await eventually(expired, "the fleet's watch of J expired")
        await until(lambda: len(client.sent) >= 3, "a polls J as it takes it anew")
        assert await field(direct, namespace, "owner", job) == b"a"
        opened = loop.time()
        client.gate.set()
        await until(lambda: sum(t > opened for t in client.sent) >= 3, "a polls J")
        after = [t for t in client.sent if t > opened]
        gaps = [later - sooner for sooner, later in itertools.pairwise(after)]
        assert min(gaps) >= INTERVAL - EARLY, f"J polled twice within a second: {gaps}"
        client.script(job, make_job(job, "SUCCESS"))
        end = await asyncio.wait_for(handle, GUARD)
    assert end.status.value == "SUCCESS"
