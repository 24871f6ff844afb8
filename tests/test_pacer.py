"""The pacer on plain numbers: slots, pauses, and finding and holding the account's rate.

``drive`` plays the poller's part without an event loop: requests due at ``demand`` per
second ask for their turns one at a time (at most ``concurrency`` in flight), go to the
simulator's token bucket, and come back after ``latency``; the pacer hears of each
outcome when it arrives.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random

import pytest

from evs_job_watch._core._pacer import Pacer
from evs_job_watch.simulator import RateLimit
from evs_job_watch.simulator._throttle import TokenBucket

Log = list[tuple[float, bool]]  # (when a request went out, whether it was refused)


def drive(
    pacer: Pacer,
    limit: RateLimit,
    seconds: float,
    *,
    demand: float = math.inf,
    latency: float = 0.02,
    noise: float = 0.0,
    concurrency: int = 64,
) -> Log:
    bucket = TokenBucket(limit, speed=1.0, start=0.0)
    rng = random.Random(7)
    arriving: list[tuple[float, float, bool, float]] = []  # (at, sent, refused, pause)
    log: Log = []

    def hear(until: float) -> None:
        while arriving and arriving[0][0] <= until:
            at, sent, refused, pause = heapq.heappop(arriving)
            if refused:
                pacer.throttled(at, pause, sent)
            else:
                pacer.answered(at, sent)

    now = 0.0
    for n in itertools.count():
        now = max(now, n / demand)
        if now >= seconds:
            return log
        if len(arriving) >= concurrency:  # every worker has a request in flight
            now = max(now, arriving[0][0])
        hear(now)
        now += pacer.turn(now)
        hear(now)
        while (more := pacer.held(now)) > 0:
            now += more
            hear(now)
        wait = bucket.take(now + latency / 2)
        refused = wait is not None or rng.random() < noise
        pause = wait if wait is not None and limit.retry_after else 0.0
        heapq.heappush(arriving, (now + latency, now, refused, pause))
        log.append((now, refused))
    raise AssertionError("unreachable")


def rates(log: Log, start: float, end: float) -> tuple[float, float]:
    """(requests that got through per second, share of 429s) of those sent in [start, end)."""
    sent = [refused for at, refused in log if start <= at < end]
    return (len(sent) - sum(sent)) / (end - start), sum(sent) / len(sent)


def settled(log: Log, change: float, limit: float, until: float) -> float:
    """Seconds from ``change`` until sending stays within 0.85-1.1x ``limit`` to ``until``."""
    for start in range(int(change), int(until)):
        if all(
            0.85 * limit <= sum(s <= at < s + 1 for at, _ in log) <= 1.1 * limit
            for s in range(start, int(until))
        ):
            return start - change
    return math.inf


def test_no_limit_before_any_429() -> None:
    pacer = Pacer()
    assert [pacer.turn(t / 100) for t in range(100)] == [0.0] * 100
    assert pacer.rate is None
    assert not pacer.spacing  # so the poller need not even ask


def test_a_rate_limit_spaces_slots() -> None:
    pacer = Pacer(10)
    assert pacer.spacing
    slots = [pacer.turn(0.0) for _ in range(20)]
    assert slots[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert all(b - a >= 0.1 for a, b in itertools.pairwise(slots))


def test_a_429_pauses_every_request_not_yet_sent() -> None:
    pacer = Pacer()
    assert pacer.turn(0.0) == 0.0
    reserved = 1.0 + pacer.turn(1.0)  # a slot already handed out...
    pacer.throttled(1.0, 5.0)
    assert pacer.spacing
    assert pacer.held(reserved) == pytest.approx(5.0)  # ...waits the pause out too
    assert 2.0 + pacer.turn(2.0) >= 6.0
    pacer.throttled(3.0, 1.0)  # a shorter pause never shortens the one in force
    assert 3.0 + pacer.turn(3.0) >= 6.0
    assert pacer.held(6.0) == 0.0


def test_a_lone_429_sets_no_pace() -> None:
    # One refusal in a window is no sign of a limit (the first window is judged only when
    # 64 requests came after its 429, and 1 of 65 is within the tolerated share).
    pacer = Pacer()
    pacer.throttled(0.0, 0.0, 0.0)
    for n in range(1, 200):
        pacer.answered(n / 100, n / 100)
    assert pacer.rate is None


def test_it_finds_a_fixed_limit_and_holds_just_under_it() -> None:
    log = drive(Pacer(), RateLimit(200), 60)
    accepted, refused = rates(log, 5, 60)
    assert accepted >= 0.9 * 200
    assert refused <= 0.03
    # It found the limit within a second or two of the first 429s.
    assert rates(log, 2, 5)[0] >= 0.85 * 200


def test_a_window_of_429s_counts_once_and_cuts_to_the_rate_it_measured() -> None:
    pacer = Pacer()
    log = drive(pacer, RateLimit(100), 0.5, latency=0.005)
    # Unpaced, the first window measures too high a rate (the burst counts in); the
    # next one, paced, measures the bucket's. Two cuts in all, one per window.
    assert pacer.rate == pytest.approx(0.95 * 100, rel=0.02)
    assert sum(refused for _, refused in log) < 500  # the unpaced start sends 12,800/s


def test_it_follows_the_limit_down_and_climbs_again_when_it_rises() -> None:
    limit = RateLimit(200, changes=[(30, 100), (60, 200)])
    log = drive(Pacer(), limit, 90)
    assert settled(log, 30, 100, 60) <= 2
    assert settled(log, 60, 200, 90) <= 6
    for start, end, rate in ((5, 30, 200), (30, 60, 100), (60, 90, 200)):
        accepted, refused = rates(log, start, end)
        assert accepted >= 0.9 * rate, (start, accepted)
        assert refused <= 0.03, (start, refused)


def test_retry_after_holds_every_request_for_its_pause() -> None:
    log = drive(Pacer(), RateLimit(100, retry_after=True), 30)
    accepted, refused = rates(log, 5, 30)
    assert accepted >= 0.9 * 100
    assert refused <= 0.03


def test_a_rate_limit_is_never_exceeded_while_probing() -> None:
    pacer = Pacer(150)
    log = drive(pacer, RateLimit(100, changes=[(10, 1000)]), 40)
    sent = [at for at, _ in log]
    assert all(b - a >= 1 / 150 for a, b in itertools.pairwise(sent))
    assert rates(log, 25, 40)[0] >= 0.95 * 150  # and, the limit lifted, it reaches it


def test_random_429s_do_not_slow_it_to_a_crawl() -> None:
    # No limit at all, but 5% of requests refused at random: after a cut or two the
    # pacer takes them for noise and keeps up with the demand.
    log = drive(Pacer(), RateLimit(1e9), 60, demand=200, noise=0.05)
    sent = [at for at, _ in log if 20 <= at < 60]
    assert len(sent) >= 0.85 * 200 * 40


def test_a_pace_far_above_what_is_sent_is_lifted() -> None:
    pacer = Pacer()
    drive(pacer, RateLimit(100, changes=[(5, 1e9)]), 5)
    assert pacer.rate is not None
    drive(pacer, RateLimit(1e9), 30, demand=50)  # demand falls well below the pace
    assert pacer.rate is None


class Share:
    """A fleet's share of its rate limit, set by hand (``_store.SharedPace``)."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.until = 0.0

    def share(self) -> float:
        return self.value

    def reserved(self, until: float) -> None:
        self.until = until

    async def refill(self) -> None:
        raise AssertionError("a share is set")

    def throttled(self, pause: float) -> None:
        raise AssertionError("no 429 here")


def wait(pacer: Pacer, now: float) -> float:
    """The seconds ``pacer.turn(now)`` says to wait (a share is set: never None)."""
    seconds = pacer.turn(now)
    assert seconds is not None
    return seconds


def test_a_share_that_grows_is_not_held_by_a_slot_reserved_at_the_old_one() -> None:
    share = Share(0.08)
    pacer = Pacer(80.0, share)
    assert wait(pacer, 100.0) == 0.0
    share.value = 40.0  # the next claim cycle gave this replica a larger share
    assert wait(pacer, 100.1) == 0.0  # one request at 40/s after 100.0 may go at once
    assert wait(pacer, 100.1) == pytest.approx(0.025)  # and the next 1/40 s after that one
    assert share.until == pytest.approx(100.15)


def test_a_share_that_shrinks_spaces_the_next_slot_by_the_new_one() -> None:
    share = Share(40.0)
    pacer = Pacer(80.0, share)
    slots = [10.0 + wait(pacer, 10.0) for _ in range(3)]
    assert slots == pytest.approx([10.0, 10.025, 10.05])
    share.value = 4.0
    assert 10.0 + wait(pacer, 10.0) == pytest.approx(10.3)  # 1/4 s after the last slot
    assert share.until == pytest.approx(10.55)
