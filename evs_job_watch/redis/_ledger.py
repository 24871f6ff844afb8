"""Ledger: what a replica remembers of its own watches to stay right through races and resets.

Two things, both counted here rather than asked of Redis:

- which claims are stale: a claim answered for an add that was queued before the watch
  settled here (it ended or was released meanwhile) would poll it again and deliver its
  events again, so such claims are handed back instead;
- which endings were recorded lately: a Redis that loses its data before every follower
  read them would lose them with it, so they are recorded again after such a reset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .._core._events import Statuses

__all__ = ["Ledger"]

_REMEMBERED = 10_000  # endings kept at most, to record again after a reset


class Ledger:
    """Settles counted, adds stamped with them, and the endings recorded lately."""

    def __init__(self, keep_for: float) -> None:
        self._keep_for = keep_for  # seconds an ending is remembered
        self._settles = 0  # watches settled here so far
        self._gone: dict[str, int] = {}  # job id -> the settle that ended its watch here
        self._adds: Counter[int] = Counter()  # settles numbers of adds not yet answered
        # Endings recorded here lately, in order of time: (when, the batch item).
        self._endings: dict[str, tuple[float, dict[str, object]]] = {}

    @property
    def stamp(self) -> int:
        """The settles seen so far: what a claim asked for now is compared with."""
        return self._settles

    def adding(self) -> int:
        """An add is queued: its stamp, to give back with ``added``."""
        self._adds[self._settles] += 1
        return self._settles

    def added(self, item: dict[str, object]) -> None:
        """An add was answered (or dropped at a reset)."""
        stamp = item.get("n")
        if isinstance(stamp, int):
            self._adds[stamp] -= 1
            if self._adds[stamp] <= 0:
                del self._adds[stamp]

    def settled(self, job_id: str) -> None:
        self._settles += 1
        self._gone[job_id] = self._settles

    def split(
        self, claims: Iterable[tuple[str, Statuses, int]]
    ) -> tuple[list[tuple[str, Statuses]], list[str]]:
        """The claims still good, and the job ids of the stale ones (to hand back)."""
        fresh, stale = [], []
        for job_id, known, stamp in claims:
            if self._gone.get(job_id, -1) > stamp:
                stale.append(job_id)
            else:
                fresh.append((job_id, known))
        # A settle at or before the oldest claim still to come can make none stale.
        floor = min(self._adds, default=self._settles)
        self._gone = {job: n for job, n in self._gone.items() if n > floor}
        return fresh, stale

    def remember(self, job_id: str, item: dict[str, object], now: float) -> None:
        """Keep an ending recorded here for a while (two leases at most)."""
        self._endings.pop(job_id, None)
        self._endings[job_id] = (now, item)
        if len(self._endings) > _REMEMBERED:
            self._endings.pop(next(iter(self._endings)))
        oldest = now - self._keep_for  # the times are in order: the oldest come first
        while self._endings and next(iter(self._endings.values()))[0] < oldest:
            self._endings.pop(next(iter(self._endings)))

    def endings(self) -> list[dict[str, object]]:
        """The endings to record again after Redis lost its data."""
        return [item for _, item in self._endings.values()]
