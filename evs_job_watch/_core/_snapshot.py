"""Snapshots of a watch set: plain, versioned JSON, checked on load, written atomically.

A snapshot records, for every live watch, the statuses whose events were delivered
(the job's and each sub-job's) and the time left before its deadline. Restored, a watch
fires events only for what changed since, so nothing delivered is delivered again and a
job that ended meanwhile fires its events on the first poll.

It also keeps what the watcher learned of job durations, under the optional key
``learned`` (``{kind: [seconds, ...]}``), so that the poll schedule survives a restart.
The key came after version 1 and does not change it: a snapshot without it loads (and
learns nothing), and a reader that does not know it ignores it. So did a watch's
optional ``ready`` (true in ready mode: its job's SUCCESS may be delivered while it waits
for the disks), which a watch without it reads as false.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict

import attrs
import orjson

from .._models import JobStatus
from .._validate import check_id
from ._tasks import TaskGroup

__all__ = [
    "FORMAT",
    "KIND_TEXT",
    "VERSION",
    "Learned",
    "SavedWatch",
    "Snapshot",
    "SnapshotWatch",
    "StateFile",
    "dump",
    "learned",
    "load",
    "parse",
    "write_atomic",
]

logger = logging.getLogger("evs_job_watch")

FORMAT = "evs_job_watch.snapshot"
VERSION = 1

# Durations of ended jobs, in seconds, per kind of job (a job type, or a batch's sub-jobs).
Learned = dict[str, list[float]]
# Characters of a kind of job's name, at most: longer ones are neither learned
# (``_learn.DurationModel``) nor read back from a snapshot.
KIND_TEXT = 200


class _SnapshotWatchKeys(TypedDict):
    job_id: str
    status: str | None
    sub_jobs: dict[str, str]
    timeout: float | None


class SnapshotWatch(_SnapshotWatchKeys, total=False):
    """One watch of a ``Snapshot``: the statuses whose events were delivered.

    Attributes:
        job_id: the watched job.
        status: the job's status (its ``JobStatus`` value), None before the first one.
        sub_jobs: each sub-job's status, by sub-job id.
        timeout: seconds left to the watch's deadline when the snapshot was taken; None
            for no deadline.
        ready: present and true for a watch in ready mode (an optional key of version 1).
    """

    ready: bool


class _SnapshotKeys(TypedDict):
    format: str
    version: int
    taken_at: float
    watches: list[SnapshotWatch]


class Snapshot(_SnapshotKeys, total=False):
    """What ``JobWatcher.snapshot()`` returns and ``resume()`` takes: plain JSON data.

    Attributes:
        format: always ``"evs_job_watch.snapshot"``.
        version: the format's version (1).
        taken_at: when it was taken (seconds since the epoch).
        watches: every live watch.
        learned: optional; seconds each kind of job took, by kind, for the schedule.
    """

    learned: dict[str, list[float]]


@attrs.frozen
class SavedWatch:
    """One watch as a snapshot keeps it."""

    job_id: str
    status: JobStatus | None
    sub_jobs: Mapping[str, JobStatus]
    timeout: float | None  # seconds left when the snapshot was taken; None for no deadline
    ready: bool = False  # ready mode: it ends once its job made something usable


def _dump_watch(saved: SavedWatch) -> SnapshotWatch:
    watch: SnapshotWatch = {
        "job_id": saved.job_id,
        "status": None if saved.status is None else saved.status.value,
        "sub_jobs": {sub: status.value for sub, status in saved.sub_jobs.items()},
        "timeout": saved.timeout,
    }
    if saved.ready:
        watch["ready"] = True
    return watch


def dump(watches: list[SavedWatch], history: Learned | None = None) -> Snapshot:
    """The JSON-ready form of a snapshot, taken now (with the durations learned, if any)."""
    data: Snapshot = {
        "format": FORMAT,
        "version": VERSION,
        "taken_at": time.time(),
        "watches": [_dump_watch(saved) for saved in watches],
    }
    if history:
        # Milliseconds are all the API's times carry.
        data["learned"] = {kind: [round(d, 3) for d in seen] for kind, seen in history.items()}
    return data


def parse(data: object) -> tuple[float, list[SavedWatch]]:
    """(taken_at, watches) of a snapshot; ValueError saying what is wrong otherwise."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not an evs_job_watch snapshot")
    version = data.get("version")
    if version != VERSION:
        raise ValueError(
            f"snapshot version {version!r} is not supported (this library reads {VERSION})"
        )
    taken_at = data.get("taken_at")
    watches = data.get("watches")
    if not isinstance(taken_at, (int, float)) or isinstance(taken_at, bool):
        raise ValueError("snapshot taken_at must be a number")
    if not isinstance(watches, list):
        raise ValueError("snapshot watches must be a list")
    return float(taken_at), [_watch(item, n) for n, item in enumerate(watches)]


def learned(data: Mapping[str, Any]) -> Learned:
    """The durations learned that a parsed snapshot keeps ({} for one without them)."""
    history = data.get("learned", {})
    if not isinstance(history, dict):
        raise ValueError("snapshot learned must be an object of lists of seconds")
    for kind, seen in history.items():
        if not isinstance(kind, str) or len(kind) > KIND_TEXT:
            raise ValueError(f"snapshot learned: invalid kind of job {str(kind)[:40]!r}")
        if not isinstance(seen, list) or not all(_duration(d) for d in seen):
            raise ValueError(f"snapshot learned {kind[:40]!r} must be a list of seconds >= 0")
    return {kind: [float(d) for d in seen] for kind, seen in history.items()}


def _duration(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


def _watch(item: object, n: int) -> SavedWatch:
    try:
        if not isinstance(item, dict):
            raise TypeError("not an object")
        status, subs, timeout = item.get("status"), item.get("sub_jobs", {}), item.get("timeout")
        if not isinstance(subs, dict):
            raise TypeError("sub_jobs is not an object")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float))
        ):
            raise TypeError("timeout is not a number")
        ready = item.get("ready", False)
        if not isinstance(ready, bool):
            raise TypeError("ready is not true or false")
        return SavedWatch(
            ready=ready,
            job_id=check_id(item.get("job_id")),
            status=None if status is None else _status(status),
            sub_jobs={check_id(sub, "sub-job id"): _status(value) for sub, value in subs.items()},
            timeout=None if timeout is None else float(timeout),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"snapshot watch #{n} is invalid: {exc}") from None


def _status(value: object) -> JobStatus:
    if not isinstance(value, str) or not value:
        raise TypeError(f"status {value!r} is not a string")
    return JobStatus(value)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut only once the folder is synced
    finally:
        os.close(directory)


def load(path: Path) -> tuple[float, list[SavedWatch], Learned] | None:
    """The snapshot in a state file, None if there is none; ValueError if it is broken."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = orjson.loads(raw)
        return (*parse(data), learned(data))
    except ValueError as exc:  # orjson's JSONDecodeError is a ValueError too
        raise ValueError(f"state file {str(path)!r} is unusable (truncated?): {exc}") from None


class StateFile:
    """Keeps a file up to date with ``take()``: one writer at a time, bursts coalesced.

    Nothing is written before ``load()`` has read the file (a watcher refused by its
    file must not overwrite it). Changes made while a write is under way are written
    right after it, so a burst of deliveries costs one write, not one each. A failed
    write is logged and leaves the old file whole; the next change tries again.
    """

    def __init__(self, path: Path, take: Callable[[], Snapshot], tasks: TaskGroup) -> None:
        self.path = path
        self._take = take
        self._tasks = tasks  # the watcher's: its writer is one of the watcher's tasks
        self._loaded = False
        self._closing = False
        self._dirty = False
        self._writer: asyncio.Task[None] | None = None

    def load(self) -> tuple[float, list[SavedWatch], Learned] | None:
        """The saved snapshot (None without a file); from now on, changes are written."""
        saved = load(self.path)
        self._loaded = True
        return saved

    def changed(self) -> None:
        if not self._loaded or self._closing:
            return
        self._dirty = True
        if self._writer is None or self._writer.done():
            self._writer = self._tasks.start(self._write())

    async def idle(self) -> None:
        """Wait until no write is under way."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def close(self) -> None:
        """Let the write under way finish, then write the state one last time."""
        if not self._loaded or self._closing:
            return
        self._closing = True  # the writer stops after its current write
        if self._writer is not None:
            await asyncio.shield(self._writer)
        await self._write_once()

    async def _write(self) -> None:
        while self._dirty and not self._closing:
            self._dirty = False
            await self._write_once()

    async def _write_once(self) -> None:
        data = orjson.dumps(self._take())
        try:
            await asyncio.get_running_loop().run_in_executor(None, write_atomic, self.path, data)
        except OSError as exc:
            logger.error("could not write the state file %s: %s", self.path, exc)
