"""PollPolicy: validation and the delay sequences it produces."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from evs_job_watch import PollPolicy


def test_defaults_are_the_documented_ones() -> None:
    policy = PollPolicy()
    assert (policy.interval, policy.max_interval, policy.multiplier) == (2.0, 15.0, 1.5)
    assert (policy.jitter, policy.max_consecutive_errors, policy.not_found_grace) == (0.1, 10, 30.0)
    assert (policy.latency, policy.floor) == (4.2, 1.0)


def test_latency_is_seconds_or_none() -> None:
    assert PollPolicy(latency=None).latency is None
    assert PollPolicy(latency=timedelta(seconds=9)).latency == 9.0
    assert PollPolicy(latency=2).latency == 2.0
    for wrong in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="latency"):
            PollPolicy(latency=wrong)
    for wrong_type in ("4", True):
        with pytest.raises(TypeError):
            PollPolicy(latency=wrong_type)  # type: ignore[arg-type]


def test_durations_accept_timedelta() -> None:
    policy = PollPolicy(interval=timedelta(seconds=3), max_interval=timedelta(minutes=1))
    assert (policy.interval, policy.max_interval, policy.floor) == (3.0, 60.0, 1.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 0},
        {"interval": -1},
        {"interval": float("nan")},
        {"interval": "2"},
        {"interval": True},
        {"max_interval": 1, "interval": 2},
        {"multiplier": 0.5},
        {"jitter": 1.0},
        {"jitter": -0.1},
        {"max_consecutive_errors": 0},
        {"max_consecutive_errors": True},
        {"not_found_grace": -1},
    ],
)
def test_nonsense_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        PollPolicy(**kwargs)  # type: ignore[arg-type]


def test_next_interval_grows_caps_and_restarts() -> None:
    policy = PollPolicy(interval=2, max_interval=10, multiplier=2)
    assert policy.next_interval(None) == 2
    assert policy.next_interval(2) == 4
    assert policy.next_interval(8) == 10
    assert policy.next_interval(10) == 10


def test_spread_stays_within_the_jitter_fraction() -> None:
    rng = random.Random(7)
    policy = PollPolicy(jitter=0.25)
    values = [policy.spread(8.0, rng) for _ in range(1000)]
    assert all(6.0 <= v <= 10.0 for v in values)
    assert min(values) < 6.5 and max(values) > 9.5
    assert PollPolicy(jitter=0).spread(8.0, rng) == 8.0


def test_error_delays_are_exponential_with_full_jitter_and_capped() -> None:
    policy = PollPolicy(interval=1, max_interval=6)
    rng = random.Random(3)
    runs = [[policy.error_delay(n, rng) for n in range(1, 7)] for _ in range(300)]
    caps = [1, 2, 4, 6, 6, 6]
    for run in runs:
        assert all(0 <= delay <= cap for delay, cap in zip(run, caps))
    # full jitter: the whole range is used, not only values near the cap
    assert max(run[3] for run in runs) > 5 and min(run[3] for run in runs) < 1
