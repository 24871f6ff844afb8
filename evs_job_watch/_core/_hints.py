"""Hints: the disks of running jobs, read in the shared listings, bring a poll forward.

Opt-in (``JobWatcher(hints=True)``). While a job polled here runs, the disks it and its
sub-jobs name are read with ready mode's listings (``_disks.DiskReads``: up to 60 ids a
request, paced like the polls, one round an ``interval``). A disk seen at work
(``creating``, ``extending``, ``deleting``, ``attaching``, ``detaching``) that is seen
out of it (any other status, or gone) says that its job probably ends now: the job's
next poll is brought forward to now (``Poller.hurry``), once per watch.

The job API alone says how a job ends: a hint never ends a watch, it moves one poll. A
wrong hint costs that one request, and the schedule goes on from there; a missing hint
(a disk never seen at work, a listing that failed) costs nothing: the schedule is the
one the watcher has without hints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from .._errors import EvsJobWatchError
from .._models import Job, JobStatus, Volume
from .._policy import PollPolicy
from ._disks import DiskReads, VolumeSource
from ._pacer import Pacer
from ._ready import needs
from ._tasks import TaskGroup
from ._watch import Watch

__all__ = ["BUSY", "Hints", "disk_reads"]

logger = logging.getLogger("evs_job_watch")

# The statuses of a disk at work for a job: leaving one is the hint.
BUSY = frozenset({"creating", "extending", "deleting", "attaching", "detaching"})


class Schedule(Protocol):
    """The poller, as the disk reads and the hints use it."""

    policy: PollPolicy
    hints: Hints | None

    async def turn(self) -> None: ...

    def hurry(self, watches: Collection[Watch]) -> int: ...


def disk_reads(
    client: object, pacer: Pacer, poller: Schedule, tasks: TaskGroup, hints: bool
) -> DiskReads | None:
    """A watcher's disk reads (None: its client reads no disks), and its hints if asked
    for (they are the poller's from then on; TypeError if the client reads no disks)."""
    if not isinstance(client, VolumeSource):
        if hints:
            raise TypeError("hints need a client that reads disks (list_volumes)")
        return None
    reads = DiskReads(client, pacer, poller.turn, poller.policy, tasks)
    if hints:
        poller.hints = Hints(reads, poller.hurry)
    return reads


class _Followed:
    """One job followed for a hint: its disks, those seen at work, whether it was hinted."""

    __slots__ = ("busy", "done", "hints", "watch")

    def __init__(self, hints: Hints, watch: Watch) -> None:
        self.hints = hints
        self.watch = watch
        self.busy: set[str] = set()  # its disks seen at work
        self.done = False  # hinted (or given up): its disks are read no more for it

    def read(self, disks: Mapping[str, Volume | None]) -> None:
        self.hints.read(self, disks)

    def failed(self, error: EvsJobWatchError) -> None:
        self.hints.stop(self)  # no hint: the schedule goes on as it was


class Hints:
    """The jobs followed for hints, and the hints the listings give."""

    __slots__ = ("_followed", "_hurry", "_reads", "_woken", "given")

    def __init__(self, reads: DiskReads, hurry: Callable[[Collection[Watch]], int]) -> None:
        self._reads = reads
        self._hurry = hurry  # the poller's: brings the next poll of watches forward
        self._followed: dict[Watch, _Followed] = {}
        self._woken: set[Watch] = set()  # hinted in this listing round, hurried after it
        self.given = 0  # hints that moved a poll

    def answered(self, watch: Watch, job: Job) -> None:
        """A poll's answer: a running job's disks are followed, an ended one's no more."""
        followed = self._followed.get(watch)
        if job.status.is_terminal or job.status is JobStatus.SUCCESS or not watch.polling:
            if followed is not None:
                self.stop(followed)
                del self._followed[watch]
            return
        if followed is None:
            ids = tuple(need.volume_id for need in needs(job))
            if ids:  # a job that names no disk (yet) gets no hint
                followed = self._followed[watch] = _Followed(self, watch)
                self._reads.want(followed, ids)

    def read(self, followed: _Followed, disks: Mapping[str, Volume | None]) -> None:
        """A listing read ``followed``'s disks: a disk out of work is a hint."""
        if not followed.watch.polling:  # ended, or polled by another replica now
            self.stop(followed)
            self._followed.pop(followed.watch, None)  # followed again if polled here again
            return
        for volume_id, disk in disks.items():
            if disk is not None and disk.status in BUSY:
                followed.busy.add(volume_id)
            elif volume_id in followed.busy:
                self.stop(followed)
                if not self._woken:
                    asyncio.get_running_loop().call_soon(self._wake)
                self._woken.add(followed.watch)
                return

    def stop(self, followed: _Followed) -> None:
        """No more listings for ``followed`` (its hint was given, or it ended)."""
        followed.done = True
        self._reads.drop(followed)

    def _wake(self) -> None:
        """Every job hinted in one listing round: their polls brought forward at once."""
        woken, self._woken = self._woken, set()
        moved = self._hurry(woken)
        self.given += moved
        logger.debug("hints brought %d polls forward", moved)
        # Those whose watch ended without a last answer here are forgotten now and then.
        self._followed = {
            watch: followed for watch, followed in self._followed.items() if watch.live
        }
