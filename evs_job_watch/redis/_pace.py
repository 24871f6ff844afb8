"""FleetPace: the fleet's rate limit and its 429s, shared through Redis.

The rate limit is one GCRA clock in Redis for the whole fleet: a replica reserves a
few consecutive slots at once (one round trip per batch, not per request) and spends
them in order; a slot it could not use in time is dropped, never spent late, so the
fleet's requests stay within the limit. A 429 is told to every replica, which pauses
and slows down as if it had got it.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Any, Protocol

__all__ = ["FleetPace", "Reserver"]

_BATCH_TIME = 0.1  # seconds of the fleet's rate reserved at once
_MOST = 64  # slots reserved at once at most
_HORIZON = 1.0  # seconds: how far ahead of now the fleet reserves at most


class Reserver(Protocol):
    """What the pace needs of its store (``RedisStore``)."""

    replica: str

    async def reserve(self, step_us: int, want: int, horizon_us: int) -> tuple[int, int, int]: ...

    def note(self, message: dict[str, Any]) -> None: ...


class FleetPace:
    """This replica's reserved slots of the fleet's rate (a ``_store.SharedPace``)."""

    def __init__(self, store: Reserver, rate: float | None) -> None:
        self._store = store
        self._step = 0.0 if rate is None else 1.0 / rate
        self._want = 1 if rate is None else max(1, min(_MOST, math.ceil(rate * _BATCH_TIME)))
        self._slots: deque[float] = deque()
        self._refill: asyncio.Future[None] | None = None
        self.reserved = self.wasted = 0

    def slot(self, now: float) -> float | None:
        slots = self._slots
        while slots and slots[0] < now - self._step:
            slots.popleft()  # too late to be spent within the limit
            self.wasted += 1
        return slots.popleft() if slots else None

    async def refill(self) -> None:
        if self._refill is not None:  # one reservation at a time; the others wait for it
            await asyncio.shield(self._refill)
            return
        self._refill = asyncio.get_running_loop().create_future()
        try:
            await self._reserve()
        finally:
            self._refill.set_result(None)
            self._refill = None

    async def _reserve(self) -> None:
        step_us = math.ceil(self._step * 1e6)
        first, count, now = await self._store.reserve(step_us, self._want, int(_HORIZON * 1e6))
        # Redis's clock to this loop's, from the moment the answer came: a slot can only
        # come later than the fleet's, never sooner.
        local = asyncio.get_running_loop().time() + (first - now) / 1e6
        self._slots.extend(local + n * step_us / 1e6 for n in range(count))
        self.reserved += count
        if count == 0:  # the fleet has reserved as far ahead as it may: wait a batch
            await asyncio.sleep(self._step * self._want)

    def throttled(self, pause: float) -> None:
        self._store.note({"k": "thr", "r": self._store.replica, "p": pause})
