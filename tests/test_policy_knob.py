"""The knob spans the frontier: each ``latency`` of ``benchmarks/policy.py``'s ``KNOB`` (the
README's mapping) dominates its fixed interval: no more requests per job, and ends seen
sooner at p50 and at p95, on a replayed mix, cold and warm.

Per seed, one wave of 120 jobs: the benchmark's means over eight seeds are what the README
reports (a dominance of the mean does not hold on every seed); ``batch`` seed 1001 is a
wave on which six hold, cold and warm, and the default against fixed 5 s too, so a
change to the rules that moves the knob's figures by more than their margins fails
here. Not 20 s: its mapping (21, the value that misses by least on the means) dominates
it on no wave of ``batch`` or ``lognormal``, seeds 1001-1008 (``benchmarks/knob.py``
finds the mapping; ``benchmarks/README.md`` has its misses).

The replay (``benchmarks/replay.py``) drives the library's own decisions (``DurationModel``,
``after_answer``) on simulated time: deterministic, no clock, nothing timed. A change to the
schedule's rules that breaks the mapping fails here in a few seconds; the full check (six
mixes, eight seeds, two seed sets) is the benchmark's (``benchmarks/README.md``).
"""

from __future__ import annotations

import pytest

from benchmarks._common import fixed
from benchmarks.mixes import wave
from benchmarks.policy import KNOB, dominates, triple
from benchmarks.replay import replay
from evs_job_watch import PollPolicy

MIX, SEED = "batch", 1001


PAIRS = [(x, KNOB[x]) for x in sorted(KNOB) if x != 20.0] + [(5.0, PollPolicy().latency)]


@pytest.mark.parametrize(("interval", "latency"), PAIRS)
def test_each_latency_of_the_mapping_dominates_its_fixed_interval(
    interval: float, latency: float
) -> None:
    measured, history = wave(MIX, SEED), wave(MIX, SEED, measured=False)
    theirs = triple(replay([measured], fixed(interval), seed=SEED))
    knob = PollPolicy(latency=latency)
    for waves in ([measured], [history, measured]):  # cold, then warm
        mine = triple(replay(waves, knob, seed=SEED))
        assert dominates(mine, theirs), (len(waves), mine, theirs)


def test_the_mapping_runs_from_the_fastest_knob_to_the_slowest() -> None:
    assert sorted(KNOB) == [1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0]
    # Fixed 5 s: 4.1, a hair under the default, dominates it on both seed sets; the
    # default misses the held-out set by a p95 0.7% over in one row (benchmarks/README).
    assert KNOB[5.0] < PollPolicy().latency < KNOB[10.0]
    latencies = [KNOB[interval] for interval in sorted(KNOB)]
    assert len(set(latencies)) == len(latencies) and latencies == sorted(latencies)
