"""An event loop whose clock jumps to the next timer whenever nothing is ready to run.

Tests of timing (intervals, backoff, timeouts) then run in no real time and give the
same times on a slow machine as on a fast one: every ``loop.time()`` they read is exact.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from typing import Any

_REAL_WAIT = 10.0  # seconds of real time with nothing scheduled before we call it a hang


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if events or (timeout == 0 and self._loop.has_ready_callbacks()):
            return events
        if timeout is None:
            # Nothing is scheduled: only real I/O (a thread, a socket) can wake us.
            events = super().select(_REAL_WAIT)
            if not events:
                raise RuntimeError("virtual clock: nothing is scheduled and nothing arrived")
            return events
        # At least one step of the float: code that re-arms a timer for "a hair later"
        # (rate limiters do) must see time move, as it would on a real clock.
        now = self._loop.now
        self._loop.now = max(now + (timeout or 0.0), math.nextafter(now, math.inf))
        return events


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop on virtual time, starting at 0."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now

    def has_ready_callbacks(self) -> bool:
        return bool(self._ready)  # type: ignore[attr-defined]
