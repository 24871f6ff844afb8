"""Governor: the whole watcher slows down after a 429 and speeds up again gradually.

A 429 halves the rate the watcher was sending at (once per half poll interval at most, so
that a burst of 429s from one overload counts once), never below a quarter of the rate it
sent before the throttling began; clean answers then raise the allowed rate by a quarter
per poll interval until it is back where it was, and the limit is lifted. Its pace thus
follows the PollPolicy's: a policy scaled for a fast simulated clock recovers as fast.
The floor keeps an API that throttles at random from slowing the watcher to a crawl;
the pause a 429 causes (with its ``Retry-After``) is the Poller's, on top of this.
"""

from __future__ import annotations

import math

__all__ = ["Governor"]

_DECREASE = 0.5
_FLOOR_SHARE = 0.25  # of the rate sent before throttling began
_GROWTH = 0.25  # per poll interval of clean answers


class Governor:
    """Paces requests after throttling; unlimited until the first 429."""

    __slots__ = (
        "_bucket",
        "_ceiling",
        "_count",
        "_decreased",
        "_grown",
        "_interval",
        "_next",
        "_previous",
        "rate",
    )

    def __init__(self, interval: float) -> None:
        self._interval = interval  # the policy's poll interval: the governor's time unit
        self.rate: float | None = None  # requests per second allowed; None: no limit
        self._ceiling = 0.0  # the rate sent before throttling began
        self._next = 0.0  # the next free slot
        self._decreased = -math.inf
        self._grown = 0.0
        # Requests counted per whole second of the clock: the rate actually sent.
        self._bucket = 0
        self._count = self._previous = 0

    def delay(self, now: float) -> float:
        """Reserve the next request's slot: how long to wait before sending it."""
        bucket = int(now)
        if bucket != self._bucket:
            self._previous = self._count if bucket == self._bucket + 1 else 0
            self._bucket, self._count = bucket, 0
        self._count += 1
        if self.rate is None:
            return 0.0
        slot = max(now, self._next)
        self._next = slot + 1.0 / self.rate
        return slot - now

    def throttled(self, now: float) -> None:
        """A 429: send at half the rate (at most once per half interval)."""
        if now - self._decreased < self._interval / 2:
            return
        self._decreased = self._grown = now
        # The last whole second, or this one so far scaled to a second (a startup burst
        # is then judged at its true pace, not as the handful it has sent yet).
        sending = max(self._previous, self._count / max(now - self._bucket, 0.25), 1.0)
        if self.rate is None:
            self._ceiling = sending
        current = sending if self.rate is None else min(self.rate, sending)
        self.rate = max(self._ceiling * _FLOOR_SHARE, current * _DECREASE)

    def answered(self, now: float) -> None:
        """A clean answer: allow a little more, up to the rate before throttling began."""
        if self.rate is None:
            return
        elapsed = min(now - self._grown, self._interval)
        self._grown = now
        self.rate *= 1.0 + _GROWTH * elapsed / self._interval
        if self.rate >= self._ceiling:
            self.rate = None
