"""Pacer: everything that spaces the watcher's requests, behind one reservation clock.

Three things hold a request back: the configured ``rate_limit``, the pause after a 429
(its ``Retry-After``, or the error backoff), and the slow-down after it. Each request
reserves the next free slot (``turn``), in the order the due watches queue up, so the
most overdue watch goes first whenever requests are scarce.

The slow-down: a 429 halves the rate the watcher was sending at (once per half poll
interval at most, so that a burst of 429s from one overload counts once), never below a
quarter of the rate it sent before the throttling began; clean answers then raise the
allowed rate by a quarter per poll interval until it is back where it was, and the
limit is lifted. Its pace follows the PollPolicy's interval, so a policy scaled for a
fast simulated clock recovers as fast. The floor keeps an API that throttles at random
from slowing the watcher to a crawl.

With a shared store the pacer has a seam to the fleet (``shared``, a
``_store.SharedPace``): the rate limit is the fleet's, so this pacer spaces requests by
the share of it that the fleet gives this replica (``turn`` returns None while it has
none: the caller awaits ``refill()`` and asks again), and a 429 is told to the fleet,
whose other replicas call ``throttled(..., heard=True)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._store import SharedPace

__all__ = ["Pacer"]

_DECREASE = 0.5
_FLOOR_SHARE = 0.25  # of the rate sent before throttling began
_GROWTH = 0.25  # per poll interval of clean answers


class Pacer:
    """Reserves request slots: unlimited until a ``rate_limit`` or a 429 says otherwise."""

    __slots__ = (
        "_bucket",
        "_ceiling",
        "_count",
        "_decreased",
        "_grown",
        "_interval",
        "_limit",
        "_next",
        "_paused_until",
        "_previous",
        "rate",
        "shared",
    )

    def __init__(
        self, rate_limit: float | None, interval: float, shared: SharedPace | None = None
    ) -> None:
        self.shared = shared  # the fleet's part, with a shared store
        self._limit = rate_limit  # the user's cap, never exceeded
        self._interval = interval  # the policy's poll interval: the slow-down's time unit
        self.rate: float | None = None  # allowed after throttling; None: no slow-down
        self._ceiling = 0.0  # the rate sent before throttling began
        self._next = 0.0  # the next free slot
        self._paused_until = 0.0
        self._decreased = -math.inf
        self._grown = 0.0
        # Requests counted per whole second of the clock: the rate actually sent.
        self._bucket = 0
        self._count = self._previous = 0

    def turn(self, now: float) -> float | None:
        """Reserve the next request's slot: how many seconds to wait before sending it.

        None (a shared pace only): no fleet slot is left; refill, then ask again.
        """
        limit = self._limit
        if self.shared is not None and limit is not None:
            limit = self.shared.share()  # this replica's part of the fleet's limit
            if not limit:
                return None
        bucket = int(now)
        if bucket != self._bucket:
            self._previous = self._count if bucket == self._bucket + 1 else 0
            self._bucket, self._count = bucket, 0
        self._count += 1
        slot = max(now, self._paused_until)
        rate = limit if self.rate is None else min(self.rate, limit or math.inf)
        if rate is not None:
            slot = max(slot, self._next)
            # Rounding must never bring two slots closer than the rate allows, nor a sleep
            # of the returned wait end before its slot: both round up.
            self._next = math.nextafter(slot + 1.0 / rate, math.inf)
            if self.shared is not None:
                self.shared.reserved(self._next)
        wait = slot - now
        if now + wait < slot:
            wait = math.nextafter(wait, math.inf)
        return wait

    async def refill(self) -> None:
        """Wait for a share of the fleet's rate limit (``turn`` returned None)."""
        if self.shared is not None:
            await self.shared.refill()

    def throttled(self, now: float, pause: float, *, heard: bool = False) -> None:
        """A 429: nothing is sent for ``pause`` seconds, then at half the rate.

        ``heard``: another replica got it (a shared store told us), so it is not told on.
        """
        if self.shared is not None and not heard:
            self.shared.throttled(pause)
        self._paused_until = max(self._paused_until, now + pause)
        if now - self._decreased < self._interval / 2:
            return  # the same overload
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
