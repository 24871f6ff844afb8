"""Survival curves of job durations on a log-spaced grid: Kaplan-Meier with shrinkage.

A curve says, for a job still running at some age, how likely it is to end within the
next ``x`` seconds. It is estimated from counts per bin: durations of jobs that ended
(events) and the last ages at which running jobs were seen alive (censored: such a job
lasts longer than that age). Where a bin holds few jobs at risk, its hazard leans on a
parent curve's (a job type's on the pool of all types, the pool's on a prior), so that
a type seen three times borrows from the others and a cold start from the prior.
Past the grid, the tail is a power law: the chance of ending soon falls as the age grows.
Pure arithmetic: no clock, no I/O.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = ["BINS", "Curve", "bin_of", "prior_hazards"]

_FIRST = 0.5  # seconds: the upper edge of the first bin
_RATIO = 1.12  # each bin is 12% wider than the one before
BINS = 96  # edges up to 0.5 * 1.12**95 s, about 6.6 hours
# EDGES[j] is the lower edge of bin j; EDGES[BINS] the end of the grid.
EDGES = (0.0, *(_FIRST * _RATIO**k for k in range(BINS)))
_TAIL = 1.0  # power of the tail past the grid: P(alive at t | alive at a) = (a / t) ** _TAIL


_UPPER = EDGES[1:]  # each bin's upper edge


def bin_of(age: float) -> int:
    """The bin holding ``age`` seconds; BINS past the end of the grid."""
    return bisect.bisect_right(_UPPER, age)


def prior_hazards(median: float, spread: float) -> list[float]:
    """Per-bin hazards of a log-normal duration (``spread`` the deviation of the log).

    Past the median, each bin's hazard is at least the power-law tail's, so that the
    prior never grows sure that an old job cannot end soon.
    """
    floor = 1.0 - _RATIO**-_TAIL  # the power-law tail's hazard, the same in every bin

    def survival(t: float) -> float:
        if t <= 0:
            return 1.0
        return 0.5 * math.erfc((math.log(t) - math.log(median)) / (spread * math.sqrt(2)))

    hazards = []
    for j in range(BINS):
        alive = survival(EDGES[j])
        ended = 1.0 - survival(EDGES[j + 1]) / alive if alive > 0 else 1.0
        # The tail's floor from the median on only: before it, it would end every job
        # within seconds (a scale-free tail has jobs end at every scale alike).
        hazards.append(min(max(ended, floor) if EDGES[j] >= median else ended, 0.99))
    return hazards


class Curve:
    """A survival curve: per-bin hazards, their log-survival and the jobs at risk.

    Args:
        events: per bin, durations of ended jobs that fell in it.
        alive: per bin, running jobs last seen alive at an age in it.
        parent: per-bin hazards to lean on where few jobs are at risk.
        weight: how many jobs the parent counts as, in every bin.
    """

    __slots__ = ("_calm", "_descending", "hazards", "log_survival", "risk")

    def __init__(
        self,
        events: Sequence[float],
        alive: Sequence[float],
        parent: Sequence[float],
        weight: float,
    ) -> None:
        at_risk = sum(events) + sum(alive)
        hazards = [0.0] * BINS
        risk = [0.0] * BINS
        logs = [0.0] * (BINS + 1)
        log_alive = 0.0
        log1p = math.log1p
        for j in range(BINS):
            ended, seen = events[j], alive[j]
            # A job last seen alive in this bin was at risk for half of it, on average.
            exposed = at_risk - 0.5 * seen
            if exposed < 0.0:
                exposed = 0.0
            known = exposed + weight
            hazard = (ended + weight * parent[j]) / known if known > 0.0 else 0.0
            hazards[j] = hazard
            risk[j] = exposed
            log_alive += log1p(-hazard if hazard < 0.999 else -0.999)
            logs[j + 1] = log_alive
            at_risk -= ended + seen
        self.hazards = hazards
        self.risk = risk
        self.log_survival = logs  # at each edge; non-increasing
        self._descending = [-value for value in logs]  # non-decreasing, for bisect
        # rate -> per bin, the first bin from it on where jobs end at that rate (BINS if
        # none): ``calm`` in one look-up instead of a walk along the grid every poll.
        self._calm: dict[float, list[int]] = {}

    def log_alive(self, age: float, j: int | None = None) -> float:
        """log P(a job lasts at least ``age`` seconds), interpolated within the bin (``j``:
        the bin of ``age``, if the caller has it)."""
        if j is None:
            j = bin_of(age)
        logs = self.log_survival
        if j >= BINS:
            return logs[BINS] - _TAIL * math.log(age / EDGES[BINS])
        share = (age - EDGES[j]) / (EDGES[j + 1] - EDGES[j])
        return logs[j] + (logs[j + 1] - logs[j]) * share

    def at_risk(self, age: float) -> float:
        """How many observed jobs were still running at ``age`` (0 past the grid)."""
        j = bin_of(age)
        return self.risk[j] if j < BINS else 0.0

    def ending_within(self, age: float, x: float) -> float:
        """P(a job alive at ``age`` ends within the next ``x`` seconds)."""
        return -math.expm1(self.log_alive(age + x) - self.log_alive(age))

    def calm(self, age: float, rate: float) -> float:
        """How long from ``age`` until the chance of ending per second reaches ``rate``
        (0 if it is there already; past the grid, the tail's rate is ``_TAIL / t``)."""
        return self.calm_from(age, bin_of(age), rate)

    def calm_from(self, age: float, j: int, rate: float) -> float:
        """``calm(age, rate)`` for ``age`` in bin ``j``."""
        first = self._calm.get(rate)
        if first is None:
            first = self._calm[rate] = self._first_at(rate)
        j = first[j]
        if j < BINS:
            return max(EDGES[j] - age, 0.0)
        return max(_TAIL / rate - max(age, EDGES[BINS]), 0.0) + max(EDGES[BINS] - age, 0.0)

    def _first_at(self, rate: float) -> list[int]:
        """Per bin (and BINS itself), the first bin from it on whose jobs end at ``rate``
        per second or more; BINS where none does."""
        logs = self.log_survival
        first = [BINS] * (BINS + 1)
        for j in range(BINS - 1, -1, -1):
            steep = logs[j] - logs[j + 1] >= rate * (EDGES[j + 1] - EDGES[j])
            first[j] = j if steep else first[j + 1]
        if len(self._calm) >= 8:  # a handful of latencies at most: never grows unbounded
            self._calm.clear()
        return first

    def quiet(self, age: float, chance: float) -> float:
        """The longest ``x`` such that a job alive at ``age`` ends within ``x`` seconds
        with at most ``chance``."""
        return self.quiet_from(age, bin_of(age), self.log_alive(age), chance)

    def quiet_from(self, age: float, j: int, log_alive: float, chance: float) -> float:
        """``quiet(age, chance)`` for ``age`` in bin ``j``, where ``log_alive(age)`` is
        ``log_alive``."""
        if chance <= 0:
            return 0.0
        target = log_alive + math.log1p(-min(chance, 0.999))
        logs = self.log_survival
        if target < logs[BINS]:  # past the grid: invert the power-law tail
            return EDGES[BINS] * math.exp((logs[BINS] - target) / _TAIL) - age
        # The first edge at or below the target closes the bin where the curve crosses it.
        j = bisect.bisect_left(self._descending, -target, lo=j + 1)
        low, high = logs[j - 1], logs[j]
        share = 1.0 if high == low else (low - target) / (low - high)
        return max(EDGES[j - 1] + (EDGES[j] - EDGES[j - 1]) * share - age, 0.0)
