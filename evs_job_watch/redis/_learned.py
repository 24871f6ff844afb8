"""Learned: the durations of ended jobs, shared by the fleet through Redis.

Each replica learns how long jobs of each kind take (``_core/_learn.py``), and a
snapshot keeps what it learned. With a shared store the fleet learns together: a
replica starting cold takes what the fleet learned (the hash ``learned``: per kind of
job, the fleet's most recent durations, JSON), and every minute and at its close it adds
the durations it learned itself since (a ``learn`` item, in a batch: no call of its own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from .._core._snapshot import Learned, learned
from .._core._store import Fleet

__all__ = ["SharedLearning"]

logger = logging.getLogger("evs_job_watch")

EVERY = 60.0  # seconds between two shares of what this replica learned


class SharedLearning:
    """What this replica took from the fleet and gave it, so that nothing goes twice."""

    def __init__(self) -> None:
        self._known: dict[str, set[float]] = {}  # per kind: durations the fleet has
        self.next_share = 0.0  # loop time of the next share

    def taken(self, raw: dict[Any, Any]) -> Learned:
        """The fleet's durations from the ``learned`` hash as Redis gave it ({} if bad)."""
        try:
            data = {_text(kind): orjson.loads(seen) for kind, seen in raw.items()}
            fleet = learned({"learned": data})
        except ValueError as exc:  # orjson's errors are ValueErrors too
            logger.warning("ignored the fleet's learned durations: %s", exc)
            return {}
        for kind, seen in fleet.items():
            self._known.setdefault(kind, set()).update(round(d, 3) for d in seen)
        return fleet

    def share(self, fleet: Fleet, queue: Callable[[dict[str, object]], None]) -> None:
        """Queue (``queue``) what ``fleet`` learned that the fleet's record has not."""
        item = self.item(learned(fleet.snapshot()))
        if item is not None:
            queue(item)

    def item(self, history: Learned) -> dict[str, object] | None:
        """The ``learn`` batch item for what ``history`` has that the fleet has not."""
        new: dict[str, list[float]] = {}
        for kind, seen in history.items():
            known = self._known.setdefault(kind, set())
            fresh = [d for d in (round(d, 3) for d in seen) if d not in known]
            if fresh:
                known.update(fresh)
                new[kind] = fresh
        if not new:
            return None
        return {"a": "learn", "j": "", "m": orjson.dumps(new).decode()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
