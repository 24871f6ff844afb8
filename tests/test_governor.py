"""After a 429 the whole watcher slows down, then recovers gradually."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from evs_job_watch import Job, JobWatcher, PollPolicy, ThrottledError
from evs_job_watch._governor import Governor

from .scripted import make_job


def test_no_limit_before_any_429() -> None:
    governor = Governor()
    assert [governor.delay(t / 100) for t in range(100)] == [0.0] * 100
    assert governor.rate is None


def test_a_429_halves_the_rate_being_sent_and_spaces_requests() -> None:
    governor = Governor()
    for n in range(500):  # a steady 100 requests per second
        governor.delay(n / 100)
    governor.throttled()
    assert governor.rate == pytest.approx(50, rel=0.05)
    now = 5.0
    slots = [now + governor.delay(now) for _ in range(5)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert gaps == pytest.approx([1 / governor.rate] * 4)


def test_clean_answers_raise_the_rate_until_the_limit_is_lifted() -> None:
    governor = Governor()
    for n in range(500):
        governor.delay(n / 100)
    governor.throttled()
    halved = governor.rate
    assert halved is not None
    governor.answered()
    assert governor.rate == pytest.approx(halved + 0.05)
    for _ in range(2000):
        governor.answered()
    assert governor.rate is None


def test_the_rate_never_drops_below_the_floor() -> None:
    governor = Governor()
    for n in range(10):
        governor.delay(n * 100.0)  # one request every 100 s
    for _ in range(5):
        governor.throttled()
    assert governor.rate == 0.5


class OneThrottle:
    """Every job stays RUNNING; the first request at or after `at` is answered 429."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.fired = False
        self.times: list[float] = []

    async def get_job(self, job_id: str) -> Job:
        now = asyncio.get_running_loop().time()
        self.times.append(now)
        await asyncio.sleep(0.01)
        if now >= self.at and not self.fired:
            self.fired = True
            raise ThrottledError("throttled", job_id=job_id)
        return make_job(job_id, "RUNNING")

    def rate(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.times) / (end - start)


@pytest.mark.virtual_clock
async def test_the_watcher_slows_down_after_a_429_and_recovers() -> None:
    client = OneThrottle(at=5.0)
    policy = PollPolicy(interval=0.1, max_interval=0.1, jitter=0.1, max_consecutive_errors=5)
    async with JobWatcher(client, policy=policy, max_concurrency=8) as watcher:
        handles = [watcher.watch(f"j{n}") for n in range(20)]
        await asyncio.sleep(120)
        for handle in handles:
            handle.cancel()
    before = client.rate(2, 5)
    after = client.rate(5.2, 6.2)
    recovered = client.rate(110, 120)
    assert after <= 0.65 * before
    assert recovered >= 0.9 * before
