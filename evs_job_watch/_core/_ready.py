"""Ready mode: when a job that read SUCCESS has made something usable, decided purely.

A job's SUCCESS is not always a usable disk: a disk may still read ``creating`` for a
while, and ECS attach jobs have been seen to read SUCCESS once while still running. In
ready mode a watch that reads SUCCESS lives on (``Readiness``) until:

- EVS create, extend, retype (any job naming a disk): every disk the job and its
  sub-jobs name reads ``available`` or ``in-use``, at the new size for an extend;
- a delete: the disk is gone;
- ECS attach and detach: the job read SUCCESS on two polls in a row, and the disk is
  attached to (or detached from) the job's server;
- a job that names no disk: SUCCESS on two polls in a row.

Every rule also wants the last poll of the job to read SUCCESS (an early SUCCESS that
turns to RUNNING again is not trusted; one that turns to FAIL ends the watch as failed,
with a ``SUCCESS`` to ``FAIL`` event: ``failed_after_success``). A disk in an
``error*`` state fails the watch with ``VolumeFailedError``. The disks are read by the
watcher's shared reader (a ``DiskReader``: ``_disks.DiskReads``), in listings of 60.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from .._errors import EvsJobWatchError, VolumeFailedError
from .._models import Job, JobStatus, Volume
from ._events import JobEvent, Statuses

__all__ = [
    "DiskReader",
    "Need",
    "Readiness",
    "ReadyStatuses",
    "Verdict",
    "failed_after_success",
    "judge",
    "needs",
]

_GONE = frozenset({"deleteVolume", "deleteSingleVolume", "bulkDeleteVolume"})
_ATTACH, _DETACH = "attachVolume", "detachVolume"

# A watch's end in ready mode: the job, usable; or the error that makes it unusable.
Verdict = Job | EvsJobWatchError


@attrs.frozen
class Need:
    """What one disk must read for a job to be ready.

    Attributes:
        volume_id: the disk.
        want: ``"usable"``, ``"gone"``, ``"attached"`` or ``"detached"``.
        size: the size it must have reached (an extend), or None.
        server_id: the server of an attach or detach, or None.
    """

    volume_id: str
    want: str
    size: int | None = None
    server_id: str | None = None


def needs(job: Job) -> tuple[Need, ...]:
    """What the disks that ``job`` and its sub-jobs name must read, one need per disk."""
    found: dict[str, Need] = {}
    for one in (*job.sub_jobs, job):
        entities = one.entities
        if entities.volume_id is None:
            continue
        kind = "" if one.job_type is None else one.job_type.value
        want = "usable"
        if kind in _GONE:
            want = "gone"
        elif kind in (_ATTACH, _DETACH):
            want = "attached" if kind == _ATTACH else "detached"
        size = entities.size if kind == "extendVolume" else None
        found[entities.volume_id] = Need(entities.volume_id, want, size, entities.server_id)
    return tuple(found.values())


def _twice(job: Job, wanted: tuple[Need, ...]) -> bool:
    """Whether the job must read SUCCESS on two polls in a row (ECS, or no disk named)."""
    return not wanted or any(need.want in ("attached", "detached") for need in wanted)


def _met(need: Need, disk: Volume | None) -> bool:
    if need.want == "gone":
        return disk is None
    if disk is None or not disk.is_usable:
        return False
    if need.want == "usable":
        return need.size is None or disk.size is None or disk.size >= need.size
    attached = need.server_id in disk.server_ids if need.server_id else bool(disk.server_ids)
    if need.want == "attached":
        return disk.status == "in-use" and attached
    return not attached  # detached


def judge(
    job: Job,
    successes: int,
    wanted: tuple[Need, ...],
    disks: Mapping[str, Volume | None] | None,
) -> Verdict | None:
    """The verdict on a job whose last ``successes`` polls read SUCCESS, given the disks
    last read (None: not read yet; a disk missing or None: not found), or None: wait."""
    if job.status is not JobStatus.SUCCESS or successes < 1:
        return None
    if wanted and disks is None:
        return None
    for need in wanted:
        disk = None if disks is None else disks.get(need.volume_id)
        if disk is not None and disk.is_error:
            return VolumeFailedError(job, need.volume_id, disk.status)
    if successes < 2 and _twice(job, wanted):
        return None
    if all(_met(need, None if disks is None else disks.get(need.volume_id)) for need in wanted):
        return job
    return None


class ReadyStatuses(Statuses):
    """The delivered statuses of a watch in ready mode, as a shared store's claim hands
    them over: the type says the fleet's watch is in ready mode."""

    __slots__ = ()


def failed_after_success(seen: Statuses, job: Job, events: list[JobEvent]) -> list[JobEvent]:
    """Ready mode: ``events`` (``diff``'s, from ``seen`` to ``job``) with a ``SUCCESS`` to
    ``FAIL`` event for the job and for each sub-job seen SUCCESS that reads FAIL now (an
    early SUCCESS that failed after all: ``diff`` gives no event after a terminal one).
    Sub-job events still come first, the job's last."""
    success, fail = JobStatus.SUCCESS, JobStatus.FAIL
    subs = seen.subs or {}
    late = [
        JobEvent(sub, success, job)
        for sub in job.sub_jobs
        if sub.status is fail and subs.get(sub.job_id) is success
    ]
    own = job.status is fail and seen.job is success
    if not late and not own:
        return events
    ordered = [event for event in events if event.parent is not None] + late
    ordered += [event for event in events if event.parent is None]
    if own:
        ordered.append(JobEvent(job, success))
    return ordered


class DiskReader(Protocol):
    """The watcher's shared disk reader (``_disks.DiskReads``), as a readiness uses it."""

    def want(self, readiness: Readiness, volume_ids: tuple[str, ...]) -> None: ...

    def drop(self, readiness: Readiness) -> None: ...


class Readiness:
    """One watch's ready phase: its successes in a row, its needs, the disks last read.

    ``decided`` is called with the verdict once there is one (the watch then ends).
    """

    __slots__ = ("_decided", "_disks", "_job", "_reader", "_wanted", "successes")

    def __init__(self, reader: DiskReader, decided: Callable[[Verdict], None]) -> None:
        self._reader = reader
        self._decided = decided
        self.successes = 0  # polls in a row that read SUCCESS
        self._job: Job | None = None
        self._wanted: tuple[Need, ...] | None = None  # known from the first SUCCESS on
        self._disks: Mapping[str, Volume | None] | None = None

    def __repr__(self) -> str:
        return f"<Readiness {self.successes} successes, {len(self._wanted or ())} disks>"

    @property
    def waiting(self) -> bool:
        """Whether the job has read SUCCESS and the watch waits for it to be usable."""
        return self._wanted is not None

    def answered(self, job: Job) -> None:
        """A poll's answer (the job's status, not only its changes)."""
        if job.status is not JobStatus.SUCCESS:
            self.successes = 0  # an early SUCCESS, RUNNING again: start over
            return
        self.successes += 1
        self._job = job
        if self._wanted is None:
            self._wanted = needs(job)
            if self._wanted:
                self._reader.want(self, tuple(need.volume_id for need in self._wanted))
        self._decide()

    def read(self, disks: Mapping[str, Volume | None]) -> None:
        """The disks this readiness wants, as a listing just read them (None: not found);
        ignored unless it waits (a listing under way as the phase started over)."""
        if self._wanted is None:
            return
        self._disks = disks
        self._decide()

    def failed(self, error: EvsJobWatchError) -> None:
        """The disks could not be read (a refusal, or the error budget spent)."""
        self._decided(error)

    def close(self) -> None:
        """The watch ended: its disks are read no more."""
        if self._wanted:
            self._reader.drop(self)

    def reset(self) -> None:
        """Another replica polls the watch now: its disks are read no more here, and the
        phase starts over from the next poll here (what the fleet delivered stays)."""
        self.close()
        self.successes = 0
        self._job = self._wanted = self._disks = None

    def _decide(self) -> None:
        if self._job is None or self._wanted is None:
            return
        verdict = judge(self._job, self.successes, self._wanted, self._disks)
        if verdict is not None:
            self._decided(verdict)
