"""WatchSet: the watcher's watches, live by job id and ended ones still delivering."""

from __future__ import annotations

from collections.abc import Iterator

from ._events import JobEvent
from ._snapshot import SavedWatch
from ._store import Keeper
from ._watch import Outcome, Watch

__all__ = ["WatchSet"]


class WatchSet:
    """Which watches exist; told by each watch when it is held, ends and settles.

    What the store must know (a watch held, an event delivered, a watch settled) goes on
    to ``keeper``: the store in use (``_store``), which writes it down.
    """

    __slots__ = ("_delivering", "_live", "keeper")

    def __init__(self, keeper: Keeper) -> None:
        self._live: dict[str, Watch] = {}
        self._delivering: set[Watch] = set()  # ended, their holders not told yet
        self.keeper = keeper

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[str]:
        return iter(self._live)

    def get(self, job_id: str) -> Watch | None:
        """The live watch of ``job_id``, if any."""
        return self._live.get(job_id)

    def add(self, watch: Watch) -> None:
        self._live[watch.job_id] = watch

    def held(self, watch: Watch) -> None:
        """A caller of this replica holds ``watch`` now (it had none)."""
        self.keeper.held(watch)

    def lengthened(self, watch: Watch) -> None:
        """A new holder of ``watch`` waits longer than those it had."""
        self.keeper.lengthened(watch)

    def ended(self, watch: Watch) -> None:
        """``watch`` stopped polling; it stays known until its holders are told."""
        if self._live.get(watch.job_id) is watch:
            del self._live[watch.job_id]
        self._delivering.add(watch)

    def recorded(self, watch: Watch, event: JobEvent) -> None:
        """``event``'s callbacks returned: it counts as delivered."""
        self.keeper.recorded(watch, event)

    def readied(self, watch: Watch) -> None:
        """``watch`` is in ready mode from now on."""
        self.keeper.readied(watch)

    def settled(self, watch: Watch, outcome: Outcome | None, here: bool) -> None:
        self._delivering.discard(watch)
        self.keeper.settled(watch, outcome, here)

    def live(self) -> list[Watch]:
        """The live watches (polled here or elsewhere)."""
        return list(self._live.values())

    def finishing(self) -> list[Watch]:
        """The watches whose job ended here while its last events are being delivered."""
        return [watch for watch in self._delivering if watch.finishing]

    def saved(self, now: float) -> list[SavedWatch]:
        """What a snapshot keeps of every watch, live ones first."""
        watches = (*self._live.values(), *self._delivering)
        return [saved for watch in watches if (saved := watch.saved(now)) is not None]

    def close(self) -> list[Watch]:
        """Forget every watch; returns them, for the caller to close."""
        watches = [*self._live.values(), *self._delivering]
        self._live.clear()
        self._delivering.clear()
        return watches
