"""After a 429 the whole watcher slows down, then recovers gradually."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from evs_job_watch import Job, JobWatcher, PollPolicy, ThrottledError
from evs_job_watch._governor import Governor

from .scripted import make_job


def steady(governor: Governor, per_second: int, seconds: int) -> float:
    """Send at a steady rate through the governor; returns the clock at the end."""
    for n in range(per_second * seconds):
        governor.delay(n / per_second)
    return float(seconds)


def test_no_limit_before_any_429() -> None:
    governor = Governor(1.0)
    assert [governor.delay(t / 100) for t in range(100)] == [0.0] * 100
    assert governor.rate is None


def test_a_429_halves_the_rate_being_sent_and_spaces_requests() -> None:
    governor = Governor(1.0)
    now = steady(governor, 100, 5)
    governor.throttled(now)
    assert governor.rate == pytest.approx(50)
    slots = [now + governor.delay(now) for _ in range(5)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert gaps == pytest.approx([1 / 50] * 4)


def test_a_burst_of_429s_counts_once_and_the_floor_holds() -> None:
    governor = Governor(1.0)
    now = steady(governor, 100, 5)
    for n in range(10):
        governor.throttled(now + n / 100)  # one overload, many 429s
    assert governor.rate == pytest.approx(50)
    for second in range(1, 10):
        governor.throttled(now + second)
    assert governor.rate == pytest.approx(25)  # a quarter of what was sent before


def test_clean_answers_raise_the_rate_by_a_quarter_a_second_until_lifted() -> None:
    governor = Governor(1.0)
    now = steady(governor, 100, 5)
    governor.throttled(now)
    governor.answered(now + 1)
    assert governor.rate == pytest.approx(62.5)
    for tenth in range(1, 100):
        governor.answered(now + 1 + tenth / 10)
    assert governor.rate is None


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
    policy = PollPolicy(interval=1, max_interval=1, jitter=0.1, max_consecutive_errors=5)
    async with JobWatcher(client, policy=policy, max_concurrency=8) as watcher:
        handles = [watcher.watch(f"j{n}") for n in range(20)]
        await asyncio.sleep(30)
        for handle in handles:
            handle.cancel()
    before = client.rate(2, 5)
    after = client.rate(5.2, 6.2)
    recovered = client.rate(20, 30)
    assert after <= 0.65 * before
    assert recovered >= 0.9 * before
