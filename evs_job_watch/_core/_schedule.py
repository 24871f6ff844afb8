"""When to poll a watch next, or whether to give up: pure decisions, no event loop.

The Poller asks ``after_answer`` or ``after_error`` and carries out what they return;
each is a function of the watch's ``Cadence``, what the API said, the policy and the
clock, so tests pin them with a seeded ``random.Random`` and plain numbers.
"""

from __future__ import annotations

import random

import attrs

from .._errors import (
    EvsJobWatchError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
)
from .._policy import PollPolicy

__all__ = ["START", "Cadence", "after_answer", "after_error", "is_transient"]

# Errors that say nothing about the job: retried within the error budget.
_TRANSIENT = (ServerError, ThrottledError, MalformedResponseError)


@attrs.frozen(slots=True)
class Cadence:
    """How one watch is being polled, between two polls.

    Attributes:
        interval: the last delay after an answer; None starts over at ``policy.interval``.
        errors: transient errors in a row.
        missing_since: when the API first said "not found" (for the grace period).
    """

    interval: float | None = None
    errors: int = 0
    missing_since: float | None = None


START = Cadence()


def after_answer(
    cadence: Cadence,
    changed: bool,
    learned: float | None,
    policy: PollPolicy,
    rng: random.Random,
) -> tuple[Cadence, float]:
    """The cadence and the delay after an answer of a job still running.

    Any change, a sub-job's included, means the job is moving: look again soon. A delay
    ``learned`` from the durations of jobs of its type takes precedence, capped at
    ``max_interval``, and never shorter than ``policy.floor`` once spread.
    """
    interval = policy.next_interval(None if changed else cadence.interval)
    if (cadence.interval, cadence.errors, cadence.missing_since) != (interval, 0, None):
        cadence = Cadence(interval)  # else the same one: most answers change nothing
    if learned is None:
        return cadence, policy.spread(interval, rng)
    # The floor after the jitter: whatever it learned, the default never polls a job
    # more than once a second.
    return cadence, max(policy.spread(min(learned, policy.max_interval), rng), policy.floor)


def after_error(
    cadence: Cadence,
    error: EvsJobWatchError,
    now: float,
    policy: PollPolicy,
    rng: random.Random,
) -> tuple[Cadence, float | None]:
    """The cadence and the delay after an error; a delay of None means give up.

    Not found is retried for ``not_found_grace`` seconds, not counted as an error.
    Transient errors back off until ``max_consecutive_errors`` in a row; a 429 waits at
    least its ``Retry-After``. Any other error (a refusal) ends the watch at once.
    """
    if isinstance(error, JobNotFoundError):
        since = now if cadence.missing_since is None else cadence.missing_since
        left = since + policy.not_found_grace - now
        if left <= 0:
            return cadence, None
        delay = min(policy.spread(policy.interval, rng), left)
        return attrs.evolve(cadence, missing_since=since), delay
    if not is_transient(error):
        return cadence, None
    errors = cadence.errors + 1
    if errors >= policy.max_consecutive_errors:
        return attrs.evolve(cadence, errors=errors), None
    delay = policy.error_delay(errors, rng)
    if isinstance(error, ThrottledError) and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return attrs.evolve(cadence, errors=errors), delay


def is_transient(error: EvsJobWatchError) -> bool:
    """Whether ``error`` says nothing about the job (retried within the error budget)."""
    return isinstance(error, _TRANSIENT)
