"""The knob checker (``benchmarks/knob.py``): its verdicts are the replay's own figures
compared row by row, and a margin under zero is exactly a dominance. Deterministic
replays of one small mix and seed: no clock, nothing timed."""

from __future__ import annotations

import pytest

from benchmarks._common import fixed
from benchmarks.knob import check, margin, rows
from benchmarks.mixes import wave
from benchmarks.policy import dominates, triple
from benchmarks.replay import replay
from evs_job_watch import PollPolicy

MIX, SEED = "batch", 1001


@pytest.mark.parametrize(
    ("mine", "theirs", "verdict"),
    [
        ((4.0, 1.0, 2.0), (5.0, 1.5, 2.5), True),
        ((5.0, 1.0, 2.0), (5.0, 1.5, 2.5), True),  # as many requests: still dominates
        ((5.1, 1.0, 2.0), (5.0, 1.5, 2.5), False),
        ((4.0, 1.5, 2.0), (5.0, 1.5, 2.5), False),  # the same p50: not sooner
        ((4.0, 1.0, 2.6), (5.0, 1.5, 2.5), False),
    ],
)
def test_a_margin_under_zero_is_a_dominance(
    mine: tuple[float, float, float], theirs: tuple[float, float, float], verdict: bool
) -> None:
    assert dominates(mine, theirs) is verdict
    assert (margin(mine, theirs) < 0) is (verdict and mine[0] < theirs[0])
    assert margin(mine, theirs) == pytest.approx(max(a / b for a, b in zip(mine, theirs)) - 1)


def test_the_verdicts_are_the_replays_compared_row_by_row() -> None:
    measured, history = wave(MIX, SEED), wave(MIX, SEED, measured=False)
    theirs = triple(replay([measured], fixed(5.0), seed=SEED))
    verdicts = check(5.0, [4.2, 20.0], [SEED], mixes=[MIX])
    assert [v.latency for v in verdicts] == [4.2, 20.0]
    for verdict in verdicts:
        knob = PollPolicy(latency=verdict.latency)
        for mode, waves in (("cold", [measured]), ("warm", [history, measured])):
            mine = triple(replay(waves, knob, seed=SEED))
            ratios = verdict.ratios[(MIX, mode)]
            assert ratios == pytest.approx(tuple(a / b for a, b in zip(mine, theirs)))
    near, far = verdicts
    # 4.2 (the default) dominates fixed 5 s on this wave, cold and warm; 20 s sees ends
    # far later than polls every 5 s.
    assert (near.dominated, near.everywhere, near.margin < 0) == (2, True, True)
    assert (far.dominated, far.everywhere, far.margin > 0) == (0, False, True)
    assert far.margin == pytest.approx(max(max(r) for r in far.ratios.values()) - 1)
    assert far.margin == pytest.approx(max(far.ratios[far.worst]) - 1)


def test_a_row_is_the_mean_over_the_seeds_in_one_process_or_two() -> None:
    seeds = [1001, 1002]
    policies = [(None, 5.0), (4.2, 0.0)]
    fixed5, knob = rows(policies, seeds, mixes=[MIX], jobs=2)
    assert rows(policies, seeds, mixes=[MIX]) == [fixed5, knob]
    for mode in ("cold", "warm"):
        each = []
        for seed in seeds:
            measured = wave(MIX, seed)
            waves = [wave(MIX, seed, measured=False), measured] if mode == "warm" else [measured]
            each.append(triple(replay(waves, PollPolicy(latency=4.2), seed=seed)))
        assert knob[(MIX, mode)] == pytest.approx(tuple((a + b) / 2 for a, b in zip(*each)))
        # a fixed interval learns nothing: warm is cold
        measured = wave(MIX, 1002)
        assert fixed5[(MIX, mode)][0] == pytest.approx(
            (
                triple(replay([wave(MIX, 1001)], fixed(5.0), seed=1001))[0]
                + triple(replay([measured], fixed(5.0), seed=1002))[0]
            )
            / 2
        )
