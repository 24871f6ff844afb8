"""Seeded job mixes for the polling policy benchmark: who arrives when, and lasts how long.

Each mix is a wave of 120 jobs arriving over a minute (uniformly at random), in simulated
seconds; a seed decides everything. A warm run first watches a history wave of the same
mix (another stream of the same seed) to its end. The mixes:

- `lognormal`: four EVS job types, log-normal durations, medians 5, 12, 20 and 35 s;
- `pareto`: half the jobs of a heavy-tailed type (Pareto, shape 1.4, from 6 s, up to
  15 minutes), the rest short deletes and extends;
- `bimodal`: half the jobs of a type whose durations are mostly about 6 s, and ten times
  that for one in ten;
- `drift`: half the jobs of a type whose durations double halfway through the wave;
- `batch`: half the jobs batches of 2-8 sub-jobs (each about 20 s), which end one by one;
  the batch ends 0.2-1 s after its last sub-job;
- `rare`: a mix of three types, and a fourth (about a minute long) seen only three times.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MIXES", "SimJob", "wave"]

JOBS = 120
SPAN = 60.0  # simulated seconds over which a wave arrives


@dataclass(frozen=True)
class SimJob:
    """One job of a wave: simulated seconds from the start of its wave.

    `subs` holds a batch's sub-job durations (the job's own `duration` is its end).
    """

    arrival: float
    job_type: str
    duration: float
    subs: tuple[float, ...] = ()


Drawn = tuple[str, float, tuple[float, ...]]
Draw = Callable[[random.Random, float, int, bool], Drawn]


def lognormal(rng: random.Random, median: float, spread: float, low: float = 1.0) -> float:
    return min(max(rng.lognormvariate(math.log(median), spread), low), 900.0)


def _short(rng: random.Random) -> Drawn:
    if rng.random() < 0.5:
        return "deleteVolume", lognormal(rng, 5.0, 0.5), ()
    return "extendVolume", lognormal(rng, 12.0, 0.5, 2.0), ()


def _lognormal(rng: random.Random, at: float, index: int, measured: bool) -> Drawn:
    kind = rng.randrange(4)
    if kind < 2:
        return _short(rng)
    if kind == 2:
        return "createVolume", lognormal(rng, 20.0, 0.6, 3.0), ()
    return "retypeVolume", lognormal(rng, 35.0, 0.4, 8.0), ()


def _pareto(rng: random.Random, at: float, index: int, measured: bool) -> Drawn:
    if rng.random() < 0.5:
        return "createVolume", min(6.0 * rng.paretovariate(1.4), 900.0), ()
    return _short(rng)


def _bimodal(rng: random.Random, at: float, index: int, measured: bool) -> Drawn:
    if rng.random() < 0.5:
        median = 60.0 if rng.random() < 0.1 else 6.0
        return "extendVolume", lognormal(rng, median, 0.4), ()
    if rng.random() < 0.5:
        return "deleteVolume", lognormal(rng, 5.0, 0.5), ()
    return "createVolume", lognormal(rng, 20.0, 0.6, 3.0), ()


def _drift(rng: random.Random, at: float, index: int, measured: bool) -> Drawn:
    if rng.random() < 0.5:
        doubled = measured and at >= SPAN / 2
        return "createVolume", lognormal(rng, 30.0 if doubled else 15.0, 0.5, 3.0), ()
    return _short(rng)


def _batch(rng: random.Random, at: float, index: int, measured: bool) -> Drawn:
    if rng.random() < 0.5:
        subs = tuple(lognormal(rng, 20.0, 0.5, 4.0) for _ in range(rng.randint(2, 8)))
        return "batchCreateVolume", max(subs) + rng.uniform(0.2, 1.0), subs
    return _short(rng)


RARE = (10, 50, 90)  # the places of the rare type's jobs in the measured wave


def _rare(rng: random.Random, at: float, index: int, measured: bool) -> Drawn:
    if measured and index in RARE:
        return "retypeVolume", lognormal(rng, 60.0, 0.4, 10.0), ()
    if rng.random() < 0.33:
        return "createVolume", lognormal(rng, 20.0, 0.6, 3.0), ()
    return _short(rng)


MIXES: dict[str, Draw] = {
    "lognormal": _lognormal,
    "pareto": _pareto,
    "bimodal": _bimodal,
    "drift": _drift,
    "batch": _batch,
    "rare": _rare,
}


def wave(mix: str, seed: int, *, measured: bool = True, jobs: int = JOBS) -> list[SimJob]:
    """The jobs of one wave of `mix`, by arrival; `measured` False gives the history wave."""
    rng = random.Random(f"policy:{mix}:{seed}:{'measured' if measured else 'history'}")
    arrivals = sorted(rng.uniform(0.0, SPAN) for _ in range(jobs))
    draw = MIXES[mix]
    made = []
    for index, at in enumerate(arrivals):
        job_type, duration, subs = draw(rng, at, index, measured)
        made.append(SimJob(at, job_type, duration, subs))
    return made
