"""The watcher against the account's token bucket, on the virtual clock: it finds the
limit and holds just under it, follows it down and up, honours Retry-After, and shares a
scarce quota fairly among its watches."""

from __future__ import annotations

import asyncio
import itertools
import random

import attrs
import pytest

from evs_job_watch import Job, JobWatcher, PollPolicy, ThrottledError
from evs_job_watch.simulator import RateLimit
from evs_job_watch.simulator._throttle import TokenBucket

from .scripted import ScriptedClient, make_job

# Polls every 0.5-1 s: 300 watches ask 300-600 requests/s, far above the limits here.
EAGER = PollPolicy(interval=0.5, max_interval=1.0, jitter=0.1, latency=None)
WATCHES = 300


@attrs.define
class Request:
    job_id: str
    sent: float
    answered: float | None = None  # None: still in flight
    refused: bool = False
    retry_after: float | None = None


class BucketClient:
    """Every job is RUNNING; each request first takes a token from the simulator's bucket
    (the API gateway's, for the whole account), after half its latency."""

    def __init__(self, limit: RateLimit, *, noise: float = 0.0) -> None:
        self.bucket = TokenBucket(limit, speed=1.0, start=0.0)
        self.limit = limit
        self.noise = noise
        self.rng = random.Random(3)
        self.requests: list[Request] = []

    async def get_job(self, job_id: str) -> Job:
        loop = asyncio.get_running_loop()
        request = Request(job_id, loop.time())
        self.requests.append(request)
        latency = self.rng.uniform(0.005, 0.03)
        await asyncio.sleep(latency / 2)
        wait = self.bucket.take(loop.time())
        await asyncio.sleep(latency / 2)
        request.answered = loop.time()
        if wait is not None or self.rng.random() < self.noise:
            request.refused = True
            if wait is not None and self.limit.retry_after:
                request.retry_after = wait
            raise ThrottledError(
                "throttled",
                status=429,
                code="APIG.0308",
                job_id=job_id,
                retry_after=request.retry_after,
            )
        return make_job(job_id, "RUNNING")

    def accepted(self, start: float, end: float) -> float:
        """Requests that got through per second, of those sent in [start, end)."""
        passed = [r for r in self.requests if start <= r.sent < end and not r.refused]
        return len(passed) / (end - start)

    def refused(self, start: float, end: float) -> float:
        """The share of 429s among the requests sent in [start, end)."""
        sent = [r.refused for r in self.requests if start <= r.sent < end]
        return sum(sent) / len(sent)

    def worst_wait(self, start: float, end: float) -> float:
        """The longest any job went without an answer, between ``start`` and ``end``."""
        answers: dict[str, list[float]] = {}
        for r in self.requests:
            if not r.refused and r.answered is not None and r.answered < end:
                answers.setdefault(r.job_id, []).append(r.answered)
        worst = 0.0
        for times in answers.values():
            worst = max(worst, end - times[-1])
            worst = max([worst, *(b - a for a, b in itertools.pairwise(times) if b >= start)])
        return worst


async def watch_all(
    client: BucketClient | ScriptedClient, seconds: float, **options: object
) -> None:
    async with JobWatcher(client, policy=EAGER, **options) as watcher:  # type: ignore[arg-type]
        handles = [watcher.watch(f"job-{n}") for n in range(WATCHES)]
        await asyncio.sleep(seconds)
        for handle in handles:
            handle.cancel()


@pytest.mark.virtual_clock
async def test_the_watcher_finds_a_fixed_limit_and_holds_just_under_it() -> None:
    client = BucketClient(RateLimit(100))
    await watch_all(client, 40)
    assert client.accepted(10, 40) >= 0.9 * 100
    assert client.refused(10, 40) <= 0.03
    # It found the limit within seconds of the first 429s.
    assert client.accepted(3, 10) >= 0.85 * 100


@pytest.mark.virtual_clock
async def test_the_watcher_follows_the_limit_down_and_climbs_again_when_it_rises() -> None:
    client = BucketClient(RateLimit(100, changes=[(20, 50), (40, 100)]))
    await watch_all(client, 60)
    assert client.accepted(10, 20) >= 0.9 * 100
    assert client.accepted(22, 40) >= 0.9 * 50  # settled within 2 s of the halving
    assert client.accepted(46, 60) >= 0.9 * 100  # and within 6 s of the doubling
    assert client.refused(10, 60) <= 0.03


@pytest.mark.virtual_clock
async def test_retry_after_holds_every_request_not_yet_sent() -> None:
    client = BucketClient(RateLimit(100, retry_after=True))
    await watch_all(client, 30)
    pauses = [
        (r.answered, r.answered + r.retry_after)
        for r in client.requests
        if r.answered is not None and r.retry_after is not None
    ]
    assert pauses
    for start, end in pauses:
        assert not [r for r in client.requests if start < r.sent < end]
    assert client.accepted(10, 30) >= 0.9 * 100
    assert client.refused(10, 30) <= 0.03


@pytest.mark.virtual_clock
async def test_a_scarce_quota_goes_round_every_watch() -> None:
    # 300 watches, 100 requests/s: a fair share polls each one every 3 s; the most
    # overdue go first, so none waits much longer, 429s or not.
    client = BucketClient(RateLimit(100))
    await watch_all(client, 40)
    fair = max(EAGER.max_interval, WATCHES / 100)
    assert client.worst_wait(10, 40) <= 1.3 * fair


@pytest.mark.virtual_clock
async def test_a_throttled_watch_keeps_its_place_in_line() -> None:
    client = ScriptedClient()
    throttled = ThrottledError("throttled", status=429, code="APIG.0308", job_id="a")
    client.script("a", throttled, make_job("a", "RUNNING"))
    for job_id in "bcd":
        client.script(job_id, make_job(job_id, "RUNNING"))
    async with JobWatcher(
        client, policy=PollPolicy(interval=60, max_interval=60), rate_limit=1
    ) as watcher:
        handles = [watcher.watch(job_id) for job_id in "abcd"]
        await asyncio.sleep(10)
        for handle in handles:
            handle.cancel()
    # One request a second: the throttled watch goes again first, before the others.
    assert [job_id for job_id, _ in client.calls] == ["a", "a", "b", "c", "d"]
    assert [at for _, at in client.calls] == pytest.approx([0, 1, 2, 3, 4])


@pytest.mark.virtual_clock
async def test_a_configured_rate_limit_is_never_exceeded_while_probing() -> None:
    client = BucketClient(RateLimit(100, changes=[(10, 1000)]))
    await watch_all(client, 30, rate_limit=80)
    sent = [r.sent for r in client.requests]
    assert all(b - a >= 1 / 80 for a, b in itertools.pairwise(sent))
    assert client.accepted(5, 30) >= 0.95 * 80


@pytest.mark.virtual_clock
async def test_random_429s_leave_the_watcher_near_its_demand() -> None:
    # No limit at all, but one request in twenty refused at random: after a cut or two,
    # the pacer takes them for noise and lets the watches ask what they need (300/s, each
    # polled every second once the interval has grown). A rare run of refusals above
    # what it tolerates still cuts the pace, and it climbs back in careful steps: over
    # 40 s, 0.90-1.04x the demand in a hundred runs (the poller's jitter is random).
    client = BucketClient(RateLimit(1e9), noise=0.05)
    await watch_all(client, 60)
    assert len([r for r in client.requests if 20 <= r.sent < 60]) >= 0.8 * 300 * 40
