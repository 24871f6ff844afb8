"""Stores: where a watcher keeps its watch set, and the one protocol every store follows.

A store keeps what must outlive one process or be shared by several: the watch set,
each watch's delivered statuses, due times and the pace. (What the schedule learns
from ended jobs travels with the events a shared store passes to every replica.) Two stores
exist: ``LocalStore``, the default, keeps it in memory and optionally in a state file
(``state_path``); ``evs_job_watch.redis.RedisStore`` shares it among the replicas of a
service. The core never imports the latter; it speaks to both through ``Store``.
``docs/stores.md`` describes the protocol. Only the library implements it: its methods
take the watcher's private types, exported ``Store`` names the type, not a seam.

The hot path of the local store is unchanged by the protocol: a poll that changes
nothing calls no store method at all, and a delivered event costs one method call that
only cues the state file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import attrs

from ._events import JobEvent, Statuses
from ._snapshot import Learned, SavedWatch, Snapshot, StateFile
from ._tasks import TaskGroup
from ._watch import Outcome, Watch

__all__ = ["Claims", "Fleet", "Keeper", "LocalStore", "SharedPace", "Store", "state_file"]


def state_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a state file's path, if its directory exists (else ValueError).

    Checked when the watcher is made, so that a typo in the directory is an error at the
    call rather than a failed write logged at every change later.
    """
    checked = Path(path)
    if checked.is_dir():
        raise ValueError(f"{what} {str(checked)!r} is a directory, not a file")
    parent = checked.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {str(checked)!r}: the directory {str(parent)!r} does not exist")
    return checked


@attrs.frozen
class Claims:
    """What one claim cycle of a shared store brought.

    Attributes:
        claimed: watches this replica polls from now on, with what the fleet delivered.
        lost: job ids this replica no longer polls (their lease went to another one).
        shed: how many of its watches this replica should hand back (the fleet's share).
    """

    claimed: Sequence[tuple[str, Statuses]] = ()
    lost: Sequence[str] = ()
    shed: int = 0


class Fleet(Protocol):
    """What a watcher offers its store: its watches, the doors for news from the fleet,
    and the task group that runs the store's background tasks."""

    @property
    def interval(self) -> float:
        """The poll policy's interval: a watch handed over is not polled again sooner."""

    @property
    def tasks(self) -> TaskGroup:
        """The watcher's task group: a store starts its background tasks there (and may
        ``stop`` one ahead of its close); the watcher's close ends whatever is left."""

    def snapshot(self) -> Snapshot:
        """Every live watch as ``JobWatcher.snapshot`` gives it."""

    def watches(self) -> list[Watch]:
        """The live watches of this replica (a shared store that lost its data re-adds them)."""

    def finishing(self) -> list[Watch]:
        """The watches whose job ended here, its last callbacks still running (a shared
        store that lost its data re-adds them as this replica's until it records the end)."""

    def ended(self, job_id: str, outcome: Outcome | None) -> None:
        """The fleet's watch of ``job_id`` ended on another replica (None: released).

        Every ending of the fleet comes here, watched here or not: an ended job also
        teaches the schedule how long jobs of its type take."""

    def listens(self) -> bool:
        """Whether events delivered elsewhere are wanted here (an event stream is open)."""

    def heard(self, events: Sequence[JobEvent]) -> None:
        """Events another replica delivered: for this replica's event streams."""

    def throttled(self, pause: float) -> None:
        """Another replica got a 429: pause and slow down as if this one had."""

    def readied(self, job_id: str) -> None:
        """A replica put the fleet's watch of ``job_id`` in ready mode."""

    def lapsed(self, job_id: str) -> None:
        """The deadline of the fleet's watch of ``job_id`` passed: it ended."""


class SharedPace(Protocol):
    """The fleet's part of pacing (``_pacer.Pacer``'s seam to a shared store)."""

    def share(self) -> float:
        """This replica's share of the fleet's rate limit, in requests/s (0: none yet)."""

    def reserved(self, until: float) -> None:
        """The pacer gave out request slots up to loop time ``until`` at the share it had."""

    async def refill(self) -> None:
        """Wait until this replica has a share of the fleet's rate limit."""

    def throttled(self, pause: float) -> None:
        """Tell the fleet that this replica got a 429 (it pauses for ``pause`` s too)."""


class Keeper(Protocol):
    """What the watch set tells its store while watches live: cheap, never awaits."""

    def held(self, watch: Watch) -> None:
        """A caller of this replica holds ``watch`` (it had none here)."""

    def lengthened(self, watch: Watch) -> None:
        """A new holder of ``watch`` waits longer than those it had (``Watch.until``)."""

    def recorded(self, watch: Watch, event: JobEvent) -> None:
        """``event``'s callbacks returned: from now on it counts as delivered."""

    def readied(self, watch: Watch) -> None:
        """``watch`` is in ready mode from now on (it was not when it was held)."""

    def settled(self, watch: Watch, outcome: Outcome | None, here: bool) -> None:
        """``watch`` ended and its holders were told: by ``outcome`` (None: released),
        here, or (``here`` False) as the fleet reported it."""


class Store(Keeper, Protocol):
    """A watcher's store. ``shared`` stores hand out watches to poll by claims.

    Implemented only by the library (``LocalStore``, ``evs_job_watch.redis.RedisStore``):
    the methods take the watcher's private types, which change with its internals. It is
    public to name the type of ``JobWatcher.store``, not to be implemented.

    Watches of a shared store start FOLLOWING: the Poller polls only those that
    ``claim`` handed to this replica, while their lease holds (``leased_until``).
    """

    shared: bool

    @property
    def leased_until(self) -> float:
        """Loop time until which this replica's leases surely hold (inf: no leases)."""

    async def open(self, fleet: Fleet) -> tuple[float, list[SavedWatch], Learned] | None:
        """Connect; returns a saved watch set to resume (local store), or None."""

    async def claim(self) -> Claims:
        """Shared stores: wait for the next claim cycle, renew leases, claim due watches."""

    def handed_back(self, watches: Sequence[tuple[Watch, float]]) -> None:
        """Shared stores: this replica stops polling these; each is due in so many seconds."""

    def listening(self) -> None:
        """An event stream opened here: events delivered elsewhere are wanted from now."""

    def pace(self, rate_limit: float | None) -> SharedPace | None:
        """The fleet's pace for ``rate_limit`` (requests/s for the fleet), None if local."""

    async def close(self, owned: Sequence[tuple[Watch, float]]) -> None:
        """Save what must be saved and let go; ``owned``: watches polled here, and when due."""


class LocalStore:
    """The default store: this process's memory, and a state file if ``path`` is given.

    The file is written after every change that a snapshot would show (coalesced,
    atomic; see ``_snapshot.StateFile``), and read back by the next watcher on start.
    """

    shared = False
    leased_until = float("inf")

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else state_file(path, "path")
        self._file: StateFile | None = None

    def __repr__(self) -> str:
        return f"<LocalStore {str(self.path)!r}>" if self.path else "<LocalStore in memory>"

    async def open(self, fleet: Fleet) -> tuple[float, list[SavedWatch], Learned] | None:
        """The state file's saved watch set, if there is a file (writes start from here)."""
        if self.path is None:
            return None
        self._file = StateFile(self.path, fleet.snapshot, fleet.tasks)
        return self._file.load()

    def held(self, watch: Watch) -> None:
        """A watch has its first holder: the file is written anew."""
        self._changed()

    def lengthened(self, watch: Watch) -> None:
        """A watch's deadline moved (a snapshot keeps it): the file is written anew."""
        self._changed()

    def recorded(self, watch: Watch, event: JobEvent) -> None:
        """An event was delivered: the file is written anew."""
        self._changed()

    def readied(self, watch: Watch) -> None:
        """A watch is in ready mode now: the file is written anew."""
        self._changed()

    def settled(self, watch: Watch, outcome: Outcome | None, here: bool) -> None:
        """A watch ended: the file is written anew."""
        self._changed()

    async def claim(self) -> Claims:
        """Not for a local store: every watch is polled here."""
        raise NotImplementedError("a local store hands out no claims")

    def handed_back(self, watches: Sequence[tuple[Watch, float]]) -> None:
        """Nothing to do: a local store has no fleet to hand watches to."""

    def listening(self) -> None:
        """Nothing to do: every event of a local store is delivered here."""

    def pace(self, rate_limit: float | None) -> SharedPace | None:
        """None: the watcher's own pacer alone spaces its requests."""
        return None

    def _changed(self) -> None:
        # Every change a snapshot would show cues the file; without a file, nothing at all.
        if self._file is not None:
            self._file.changed()

    async def written(self) -> None:
        """Wait until the state file write under way, if any, is done."""
        if self._file is not None:
            await self._file.idle()

    async def close(self, owned: Sequence[tuple[Watch, float]]) -> None:
        """Let the write under way finish, then write the live watches one last time."""
        if self._file is not None:
            await self._file.close()
