"""When to poll a watch next, or whether to give up: pure decisions, no event loop.

The Poller asks ``after_answer`` or ``after_error`` and carries out what they return;
each is a function of the watch's ``Cadence``, what the API said, the policy and the
clock, so tests pin them with a seeded ``random.Random`` and plain numbers. A watch's
``Place`` in the Poller's schedule carries its cadence and due time from poll to poll.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import attrs

from .._errors import (
    EvsJobWatchError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
)
from .._policy import DEFAULT_LATENCY, PollPolicy

if TYPE_CHECKING:
    from ._watch import Watch

__all__ = ["START", "Cadence", "Place", "after_answer", "after_error", "is_transient"]

# Errors that say nothing about the job: retried within the error budget.
_TRANSIENT = (ServerError, ThrottledError, MalformedResponseError)
# A learned delay may go up to this many times a latency over the default's, past
# max_interval: else a latency asked for over half of max_interval is cut short by it.
_STRETCH = 2.0


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


class Place:
    """A watch's place in the poller's schedule: when it is due, and how it is polled.

    Only the Poller reads it, so it lives with the schedule, not on the watch. One per
    scheduled watch, carried from poll to poll: no tuple per poll, so a steady poll leaves
    nothing behind for the garbage collector's oldest generation to walk.
    """

    __slots__ = ("cadence", "due", "stint", "watch")

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.stint = watch.stint  # the watch's stint of polling here it is for
        self.cadence: Cadence = START
        self.due = 0.0  # while in the heap: when the next poll is due

    @property
    def live(self) -> bool:
        """Whether its watch is polled on it: polled here, and not yielded since the place
        was made (a poll out as it yielded must not put it back: the watch may have been
        adopted again meanwhile, with a place of its own)."""
        return self.watch.polling and self.stint == self.watch.stint

    def __lt__(self, other: Place) -> bool:
        return self.due < other.due  # the poller's heap of due times


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
    ``max_interval`` (or twice a ``latency`` over the default's, if that is more), and
    never shorter than ``policy.floor`` once spread.
    """
    interval = policy.next_interval(None if changed else cadence.interval)
    if (cadence.interval, cadence.errors, cadence.missing_since) != (interval, 0, None):
        cadence = Cadence(interval)  # else the same one: most answers change nothing
    if learned is None:
        return cadence, policy.spread(interval, rng)
    # The floor after the jitter: whatever it learned, the default never polls a job
    # more than once a second.
    cap = policy.max_interval
    if policy.latency is not None and policy.latency > DEFAULT_LATENCY:
        cap = max(cap, _STRETCH * policy.latency)
    return cadence, max(policy.spread(min(learned, cap), rng), policy.floor)


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
