"""PollPolicy: when to poll a job next, after an answer and after an error."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from typing import Any

import attrs
import backoff

from ._validate import positive_int

__all__ = ["DEFAULT_LATENCY", "PollPolicy"]

# The default latency, at which the learned schedule's constants were tuned: a smaller
# latency scales the floor down with it (see PollPolicy.floor and _core/_learn.py).
DEFAULT_LATENCY = 4.2


def _duration(value: float | timedelta) -> float:
    """A ``timedelta`` in seconds, a number as a float; anything else is left for the
    validator, which names the field it was given for."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return _number(value)


def _optional_duration(value: float | timedelta | None) -> float | None:
    return None if value is None else _duration(value)


def _number(value: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value  # not a number: the validator says so, naming the field


def _is_number(attribute: attrs.Attribute[Any], value: object, what: str) -> float:
    if not isinstance(value, float):  # the converter made every int and float a float
        raise TypeError(f"{attribute.name} must be {what}, got {type(value).__name__}")
    return value


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    value = _is_number(attribute, value, "seconds (a number) or a timedelta")
    if not 0 < value < float("inf"):
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value}")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    value = _is_number(attribute, value, "seconds (a number) or a timedelta")
    if not 0 <= value < float("inf"):
        raise ValueError(f"{attribute.name} must be zero or more seconds, got {value}")


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        value = _is_number(attribute, value, "seconds (a number), a timedelta or None")
        if not 0.0 < value < float("inf"):
            raise ValueError(
                f"{attribute.name} must be a positive number of seconds or None, got {value}"
            )


def _plain_number(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    _is_number(attribute, value, "a number")


@attrs.frozen
class PollPolicy:
    """How often a watcher polls each job, and how long it tolerates errors.

    Args:
        interval: the delay between polls when nothing is learned (the first one, and
            the one after a status change); half of it is the shortest delay a learned
            schedule may take (1 s by default; times ``latency / 4.2`` for a latency
            under the default). Also the retry delay of a job not yet visible, and the
            start of error backoff.
        max_interval: the longest delay between polls (a learned schedule with a
            latency over the default's may wait up to twice its latency, if that is
            more), and the cap of error backoff.
        multiplier: how much the delay grows after each poll that saw no change.
        jitter: a fraction; a delay ``d`` becomes one in ``d * (1 ± jitter)`` so that many
            jobs do not poll in lockstep.
        max_consecutive_errors: transient errors in a row after which a watch gives up.
        not_found_grace: how long a job may stay unknown to the API (new job ids can be
            invisible for a few seconds) before the watch ends with JobNotFoundError.
        latency: the detection delay the learned schedule aims at. From what the
            watcher saw of each job type (durations of the jobs that ended, ages of
            those still running), it polls a job every ``latency`` seconds while the
            job may end at any moment, so most ends are seen within that, and skips
            ahead while an end is unlikely (delays stay within ``interval / 2`` and
            ``max_interval``). Lower sees ends sooner and polls more: on the
            benchmark's mixes, 0.89, 1.7, 2.5 and 4.1 make no more requests than a
            fixed interval of 1, 2, 3 and 5 s and see ends sooner (the default nearly
            does against 5 s); 9.5, 15 and 21 come closest against 10, 15 and 20 s,
            short by a few percent (the README has the figures). None turns
            learning off, leaving the growing interval alone.
    """

    interval: float = attrs.field(default=2.0, converter=_duration, validator=_positive)
    max_interval: float = attrs.field(default=15.0, converter=_duration, validator=_positive)
    multiplier: float = attrs.field(default=1.5, converter=_number, validator=_plain_number)
    jitter: float = attrs.field(default=0.1, converter=_number, validator=_plain_number)
    max_consecutive_errors: int = attrs.field(default=10)
    not_found_grace: float = attrs.field(default=30.0, converter=_duration, validator=_non_negative)
    latency: float | None = attrs.field(
        default=DEFAULT_LATENCY, converter=_optional_duration, validator=_optional_positive
    )

    def __attrs_post_init__(self) -> None:
        if self.max_interval < self.interval:
            raise ValueError("max_interval must not be smaller than interval")
        if not 1.0 <= self.multiplier < float("inf"):
            raise ValueError("multiplier must be 1 or more")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError("jitter must be a fraction in [0, 1)")
        positive_int(self.max_consecutive_errors, "max_consecutive_errors")

    def next_interval(self, previous: float | None) -> float:
        """The delay after a poll: ``interval`` after a change (None), else grown, capped."""
        if previous is None:
            return self.interval
        return min(previous * self.multiplier, self.max_interval)

    @property
    def floor(self) -> float:
        """The shortest delay a learned schedule may take between two polls of a job:
        half ``interval``, times ``latency / 4.2`` for a latency under the default."""
        if self.latency is None or self.latency >= DEFAULT_LATENCY:
            return self.interval / 2
        return self.interval / 2 * self.latency / DEFAULT_LATENCY

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
