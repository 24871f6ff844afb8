"""The pure scheduling decisions: when next after an answer or an error, or give up."""

from __future__ import annotations

import random

import pytest

from evs_job_watch import (
    AuthenticationError,
    JobNotFoundError,
    MalformedResponseError,
    PollPolicy,
    ServerError,
    ThrottledError,
)
from evs_job_watch._core._schedule import START, Cadence, after_answer, after_error

STEADY = PollPolicy(interval=2, max_interval=15, multiplier=1.5, jitter=0, not_found_grace=10)


def test_an_answer_grows_the_interval_until_a_change_starts_it_over() -> None:
    rng = random.Random(1)
    cadence, delays = START, []
    for changed in (True, False, False, False, True):
        cadence, delay = after_answer(cadence, changed, None, STEADY, rng)
        delays.append(delay)
    assert delays == [2.0, 3.0, 4.5, 6.75, 2.0]
    assert cadence == Cadence(interval=2.0)


def test_an_answer_clears_errors_and_the_not_found_clock() -> None:
    cadence, _ = after_answer(
        Cadence(4.0, errors=3, missing_since=1.0), False, None, STEADY, random.Random()
    )
    assert cadence == Cadence(interval=6.0)


def test_a_learned_delay_wins_within_half_an_interval_and_the_cap() -> None:
    rng = random.Random(1)
    assert after_answer(START, False, 7.0, STEADY, rng)[1] == 7.0
    assert after_answer(START, False, 0.01, STEADY, rng)[1] == 1.0  # interval 2: floor 1 s
    assert after_answer(START, False, 99.0, STEADY, rng)[1] == 15.0
    # A learned delay does not touch the growing interval kept for when nothing is learned.
    cadence, _ = after_answer(Cadence(3.0), False, 7.0, STEADY, rng)
    assert cadence == Cadence(4.5)


def test_the_default_never_polls_a_job_more_than_once_a_second_whatever_it_learned() -> None:
    rng = random.Random(5)
    policy = PollPolicy()  # jitter 0.1: a delay of 1 s would become one in [0.9, 1.1]
    delays = [after_answer(START, False, learned, policy, rng)[1] for learned in (0.0, 0.5, 1.0)]
    delays += [after_answer(START, True, 1e-9, policy, rng)[1] for _ in range(200)]
    assert min(delays) == 1.0
    assert max(after_answer(START, False, 1.0, policy, rng)[1] for _ in range(200)) > 1.05


def test_a_configured_policy_keeps_a_floor_of_its_own() -> None:
    rng = random.Random(2)
    fast = PollPolicy(interval=0.2, max_interval=0.5, jitter=0.5)
    slow = PollPolicy(interval=10, max_interval=60, jitter=0)
    assert min(after_answer(START, False, 0.0, fast, rng)[1] for _ in range(100)) == 0.1
    assert after_answer(START, False, 0.0, slow, rng)[1] == 5.0
    assert after_answer(START, False, 4.0, PollPolicy(interval=4, max_interval=4), rng)[1] <= 4.4


def test_not_found_is_retried_until_the_grace_ends_and_costs_no_error() -> None:
    rng = random.Random(1)
    missing = JobNotFoundError("no such job", job_id="j")
    cadence, delay = after_error(START, missing, 100.0, STEADY, rng)
    assert (cadence.missing_since, cadence.errors, delay) == (100.0, 0, 2.0)
    cadence, delay = after_error(cadence, missing, 109.0, STEADY, rng)
    assert delay == pytest.approx(1.0)  # never past the end of the grace
    assert after_error(cadence, missing, 110.0, STEADY, rng)[1] is None


def test_transient_errors_back_off_and_the_budget_ends_the_watch() -> None:
    rng = random.Random(1)
    policy = PollPolicy(interval=2, max_interval=15, max_consecutive_errors=3)
    error = ServerError("down", status=503, job_id="j")
    cadence, first = after_error(START, error, 0.0, policy, rng)
    cadence, second = after_error(
        cadence, MalformedResponseError("junk", body=b"x"), 0.0, policy, rng
    )
    assert cadence.errors == 2
    assert first is not None and 0 <= first <= 2
    assert second is not None and 0 <= second <= 4
    assert after_error(cadence, error, 0.0, policy, rng) == (Cadence(errors=3), None)


def test_a_429_waits_at_least_its_retry_after() -> None:
    throttled = ThrottledError("slow down", job_id="j", retry_after=40)
    assert after_error(START, throttled, 0.0, STEADY, random.Random(1))[1] == 40


def test_a_refusal_ends_the_watch_at_once() -> None:
    refused = AuthenticationError("bad token", status=401, job_id="j")
    assert after_error(START, refused, 0.0, STEADY, random.Random(1)) == (START, None)


def test_an_answer_after_one_error_at_the_capped_interval_clears_the_error() -> None:
    # The interval stays at max_interval, so only the error count tells the cadences apart.
    cadence, delay = after_answer(Cadence(15.0, errors=1), False, None, STEADY, random.Random())
    assert (cadence, delay) == (Cadence(interval=15.0), 15.0)
    cadence, _ = after_error(
        cadence, ServerError("down", status=503), 0.0, STEADY, random.Random(1)
    )
    assert cadence.errors == 1  # counted from the start again, not the second in a row


def test_the_jitter_comes_from_the_generator_given() -> None:
    jittery = PollPolicy(interval=2, max_interval=15, jitter=0.5)
    runs = []
    for _ in range(2):
        rng = random.Random(7)
        runs.append(
            [after_answer(START, False, learned, jittery, rng)[1] for learned in (None, 8.0)]
        )
    assert runs[0] == runs[1]
    rng = random.Random(7)
    assert runs[0][0] == jittery.spread(2.0, rng)
    assert runs[0][1] == max(jittery.spread(8.0, rng), jittery.floor)


def test_a_latency_over_the_default_stretches_the_cap_and_one_under_it_lowers_the_floor() -> None:
    rng = random.Random(3)
    slow = PollPolicy(latency=20, jitter=0)  # max_interval 15: a learned 99 s waits 40 s
    assert after_answer(START, False, 99.0, slow, rng)[1] == 40.0
    assert after_answer(START, False, 99.0, PollPolicy(latency=4.2, jitter=0), rng)[1] == 15.0
    tight = PollPolicy(max_interval=4, jitter=0)  # the default latency keeps max_interval
    assert after_answer(START, False, 9.0, tight, rng)[1] == 4.0
    fast = PollPolicy(latency=0.84, jitter=0)  # floor: 1 s x 0.84 / 4.2
    assert fast.floor == pytest.approx(0.2)
    assert after_answer(START, False, 0.0, fast, rng)[1] == pytest.approx(0.2)
    assert PollPolicy(latency=None).floor == PollPolicy(latency=9.5).floor == 1.0
