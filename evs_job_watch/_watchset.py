"""WatchSet: the watcher's watches, live by job id and ended ones still delivering."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ._snapshot import SavedWatch
from ._watch import Watch

__all__ = ["WatchSet"]


class WatchSet:
    """Which watches exist; told by each watch when it ends and when it settles.

    Args:
        on_change: called when a snapshot taken now would differ (the state file's cue).
    """

    __slots__ = ("_delivering", "_live", "on_change")

    def __init__(self) -> None:
        self._live: dict[str, Watch] = {}
        self._delivering: set[Watch] = set()  # ended, their holders not told yet
        self.on_change: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[str]:
        return iter(self._live)

    def get(self, job_id: str) -> Watch | None:
        """The live watch of ``job_id``, if any."""
        return self._live.get(job_id)

    def add(self, watch: Watch) -> None:
        self._live[watch.job_id] = watch
        self.changed()

    def ended(self, watch: Watch) -> None:
        """``watch`` stopped polling; it stays known until its holders are told."""
        if self._live.get(watch.job_id) is watch:
            del self._live[watch.job_id]
        self._delivering.add(watch)

    def settled(self, watch: Watch) -> None:
        self._delivering.discard(watch)
        self.changed()

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def saved(self, now: float) -> list[SavedWatch]:
        """What a snapshot keeps of every watch, live ones first."""
        watches = (*self._live.values(), *self._delivering)
        return [saved for watch in watches if (saved := watch.saved(now)) is not None]

    def close(self) -> list[Watch]:
        """Forget every watch; returns them, for the caller to close."""
        watches = [*self._live.values(), *self._delivering]
        self._live.clear()
        self._delivering.clear()
        self.on_change = None
        return watches
