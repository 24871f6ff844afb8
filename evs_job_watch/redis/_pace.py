"""FleetPace: the fleet's rate limit and its 429s, shared through Redis.

The rate limit belongs to the account, so it is the fleet's: each replica gets a share
of it from Redis at every claim cycle (no round trip of its own), in proportion to the
watches it polls, never more than the other replicas leave; the shares never add up to
more than the limit, and the pacer spaces this replica's requests by its share. A
replica with no share yet (it just joined, the others have not lowered theirs) waits
for one. A 429 is told to every replica, which pauses and slows down as if it had got
it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

__all__ = ["BATCH_WINDOW", "LONGEST_WINDOW", "FleetPace", "Notes"]

BATCH_WINDOW = 0.05  # seconds an update waits for others to travel with it
LONGEST_WINDOW = 0.4  # seconds: the longest, under a tight rate limit


class Notes(Protocol):
    """What the pace needs of its store (``RedisStore``): a way to tell the fleet."""

    replica: str

    def note(self, message: dict[str, Any]) -> None: ...


class FleetPace:
    """This replica's share of the fleet's rate limit (a ``_store.SharedPace``)."""

    def __init__(self, store: Notes, rate: float | None) -> None:
        self._store = store
        self.rate = rate  # the fleet's limit, requests per second; None for none
        self._share = 0.0
        self._granted: asyncio.Event | None = None
        self.until = 0.0  # loop time of the last slot this replica's pacer gave out
        self._held: tuple[float, float] | None = None  # (share, until): see hold

    def share(self) -> float:
        return self._share

    def window(self) -> float:
        """How long an update to the fleet waits for others to share its call: four
        requests' time at this replica's share of the limit (within bounds), so that the
        records of polls a tight limit spreads out still travel together."""
        if not self.rate or self._share <= 0:
            return BATCH_WINDOW
        return min(max(4.0 / self._share, BATCH_WINDOW), LONGEST_WINDOW)

    def reserved(self, until: float) -> None:
        self.until = until

    def ahead(self) -> float:
        """Seconds of slots given out beyond now (a lowered share counts that long)."""
        return max(self.until - asyncio.get_running_loop().time(), 0.0)

    def hold(self, seconds: float) -> None:
        """Redis lost the fleet's shares (it came back empty) while the other replicas may
        still spend theirs: for ``seconds`` this replica asks for no more than it had, so
        that the shares never add up to more than the limit while they are given anew."""
        self._held = (self._share, asyncio.get_running_loop().time() + seconds)

    def asked(self) -> tuple[str, int, str]:
        """What a claim cycle tells the script of the pace: the fleet's limit, how far
        ahead slots were given out (us), the most it may grant (-1: no cap)."""
        if not self.rate:
            return "0", 0, "-1"
        return repr(self.rate), int(self.ahead() * 1e6), repr(self.cap())

    def cap(self) -> float:
        """The most a claim cycle may grant this replica now: the share held, or -1."""
        if self._held is not None:
            share, until = self._held
            if asyncio.get_running_loop().time() < until:
                return share
            self._held = None
        return -1.0

    def granted(self, share: float) -> None:
        """The share that the last claim cycle gave this replica."""
        self._share = share
        if share > 0 and self._granted is not None:
            self._granted.set()
            self._granted = None

    async def refill(self) -> None:
        if self._share > 0:
            return
        if self._granted is None:
            self._granted = asyncio.Event()
        await self._granted.wait()

    def throttled(self, pause: float) -> None:
        self._store.note({"k": "thr", "r": self._store.replica, "p": pause})
