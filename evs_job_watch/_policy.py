"""PollPolicy: when to poll a job next, after an answer and after an error."""

from __future__ import annotations

import itertools
import random

import attrs
import backoff

from ._validate import positive_int, seconds

__all__ = ["PollPolicy"]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 < value < float("inf"):
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value}")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value < float("inf"):
        raise ValueError(f"{attribute.name} must be zero or more seconds, got {value}")


@attrs.frozen
class PollPolicy:
    """How often a watcher polls each job, and how long it tolerates errors.

    Args:
        interval: the first delay between polls, and the delay after a status change.
        max_interval: the longest delay between polls, and the cap of error backoff.
        multiplier: how much the delay grows after each poll that saw no change.
        jitter: a fraction; a delay ``d`` becomes one in ``d * (1 ± jitter)`` so that many
            jobs do not poll in lockstep.
        max_consecutive_errors: transient errors in a row after which a watch gives up.
        not_found_grace: how long a job may stay unknown to the API (new job ids can be
            invisible for a few seconds) before the watch ends with JobNotFoundError.
        hazard: once the watcher has seen enough jobs of a type end, it polls a job of
            that type when, by their durations, the job has this chance of having ended
            since the last poll (then delays stay within ``interval / 4`` and
            ``max_interval``). Lower reports sooner and polls more; None turns learning
            off, leaving the growing interval alone.
    """

    interval: float = attrs.field(default=2.0, converter=seconds, validator=_positive)
    max_interval: float = attrs.field(default=15.0, converter=seconds, validator=_positive)
    multiplier: float = attrs.field(default=1.5, converter=float)
    jitter: float = attrs.field(default=0.1, converter=float)
    max_consecutive_errors: int = attrs.field(default=10)
    not_found_grace: float = attrs.field(default=30.0, converter=seconds, validator=_non_negative)
    hazard: float | None = attrs.field(default=0.27)

    def __attrs_post_init__(self) -> None:
        if self.max_interval < self.interval:
            raise ValueError("max_interval must not be smaller than interval")
        if not 1.0 <= self.multiplier < float("inf"):
            raise ValueError("multiplier must be 1 or more")
        if self.hazard is not None and not (
            isinstance(self.hazard, (int, float)) and 0.0 < self.hazard <= 1.0
        ):
            raise ValueError("hazard must be a fraction in (0, 1], or None")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError("jitter must be a fraction in [0, 1)")
        positive_int(self.max_consecutive_errors, "max_consecutive_errors")

    def next_interval(self, previous: float | None) -> float:
        """The delay after a poll: ``interval`` after a change (None), else grown, capped."""
        if previous is None:
            return self.interval
        return min(previous * self.multiplier, self.max_interval)

    def spread(self, delay: float, rng: random.Random) -> float:
        """``delay`` with jitter applied."""
        if not self.jitter:
            return delay
        return delay * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))

    def error_delay(self, errors: int, rng: random.Random) -> float:
        """The delay after ``errors`` transient errors in a row: exponential from
        ``interval``, capped at ``max_interval``, with full jitter."""
        delays = backoff.expo(base=2, factor=self.interval, max_value=self.max_interval)
        next(delays)  # backoff's generators start with a priming yield
        return rng.uniform(0.0, next(itertools.islice(delays, errors - 1, None)))
