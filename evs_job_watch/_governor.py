"""Governor: the whole watcher slows down after a 429 and speeds up again gradually.

Additive increase, multiplicative decrease, as TCP does: a 429 halves the request rate
the watcher was sending at; every clean answer then raises the allowed rate a little
(about 5% a second), until it is back where it was and the limit is lifted.
"""

from __future__ import annotations

__all__ = ["Governor"]

_FLOOR = 0.5  # requests per second: never slower than one every two seconds
_RECOVERY = 0.05  # requests per second added per clean answer (about 5% a second)
_SMOOTHING = 0.05  # weight of the newest gap in the moving average of request gaps


class Governor:
    """Paces requests after throttling; unlimited until the first 429."""

    __slots__ = ("_ceiling", "_gap", "_last", "_next", "rate")

    def __init__(self) -> None:
        self.rate: float | None = None  # requests per second allowed; None: no limit
        self._ceiling = 0.0
        self._next = 0.0
        self._last: float | None = None
        self._gap = 1.0  # moving average of the time between requests

    def delay(self, now: float) -> float:
        """Reserve the next request's slot: how long to wait before sending it."""
        if self._last is not None:
            self._gap += _SMOOTHING * (now - self._last - self._gap)
        self._last = now
        if self.rate is None:
            return 0.0
        slot = max(now, self._next)
        self._next = slot + 1.0 / self.rate
        return slot - now

    def throttled(self) -> None:
        """A 429: halve the rate actually sent (or the allowed one, if lower)."""
        sending = 1.0 / self._gap if self._gap > 0 else _FLOOR
        self._ceiling = max(self._ceiling, sending)
        current = sending if self.rate is None else min(self.rate, sending)
        self.rate = max(_FLOOR, current / 2)

    def answered(self) -> None:
        """A clean answer: allow a little more, up to the rate before the first 429."""
        if self.rate is not None:
            self.rate += _RECOVERY
            if self.rate >= self._ceiling:
                self.rate = None
                self._ceiling = 0.0
