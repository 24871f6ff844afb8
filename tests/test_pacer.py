"""The pacer: a rate limit, the pause after a 429, and the slow-down and recovery after it."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from evs_job_watch import Job, JobWatcher, PollPolicy, ThrottledError
from evs_job_watch._pacer import Pacer

from .scripted import make_job


def steady(pacer: Pacer, per_second: int, seconds: int) -> float:
    """Send at a steady rate through the pacer; returns the clock at the end."""
    for n in range(per_second * seconds):
        pacer.turn(n / per_second)
    return float(seconds)


def test_no_limit_before_any_429() -> None:
    pacer = Pacer(None, 1.0)
    assert [pacer.turn(t / 100) for t in range(100)] == [0.0] * 100
    assert pacer.rate is None


def test_a_429_halves_the_rate_being_sent_and_spaces_requests() -> None:
    pacer = Pacer(None, 1.0)
    now = steady(pacer, 100, 5)
    pacer.throttled(now, 0.0)
    assert pacer.rate == pytest.approx(50)
    slots = [now + pacer.turn(now) for _ in range(5)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert gaps == pytest.approx([1 / 50] * 4)


def test_a_burst_of_429s_counts_once_and_the_floor_holds() -> None:
    pacer = Pacer(None, 1.0)
    now = steady(pacer, 100, 5)
    for n in range(10):
        pacer.throttled(now + n / 100, 0.0)  # one overload, many 429s
    assert pacer.rate == pytest.approx(50)
    for second in range(1, 10):
        pacer.throttled(now + second, 0.0)
    assert pacer.rate == pytest.approx(25)  # a quarter of what was sent before


def test_clean_answers_raise_the_rate_by_a_quarter_a_second_until_lifted() -> None:
    pacer = Pacer(None, 1.0)
    now = steady(pacer, 100, 5)
    pacer.throttled(now, 0.0)
    pacer.answered(now + 1)
    assert pacer.rate == pytest.approx(62.5)
    for tenth in range(1, 100):
        pacer.answered(now + 1 + tenth / 10)
    assert pacer.rate is None


def test_a_rate_limit_spaces_slots_and_is_never_exceeded_after_a_429() -> None:
    pacer = Pacer(10, 1.0)
    slots = [pacer.turn(0.0) for _ in range(20)]
    assert slots[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert all(b - a >= 0.1 for a, b in itertools.pairwise(slots))
    pacer.throttled(2.0, 0.0)
    pacer.answered(2.5)  # recovering, but never above the limit
    later = [2.5 + pacer.turn(2.5) for _ in range(10)]
    assert all(b - a >= 0.1 for a, b in itertools.pairwise(later))


def test_a_429_pauses_every_request_for_its_pause() -> None:
    pacer = Pacer(None, 1.0)
    assert pacer.turn(0.0) == 0.0
    pacer.throttled(1.0, 5.0)
    first = 2.0 + pacer.turn(2.0)
    second = 2.0 + pacer.turn(2.0)
    assert first >= 6.0
    assert second > first  # spaced at the slowed-down rate, not all at once
    pacer.throttled(7.0, 1.0)  # a shorter pause never shortens the one in force
    assert 7.0 + pacer.turn(7.0) >= 8.0


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
