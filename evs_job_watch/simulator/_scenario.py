"""The simulator's world: volumes and jobs, the scenario API, and the ground truth.

Kept apart from the HTTP layer so tests can script jobs and read back exactly what
happened without going through a socket.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._jobs import (
    DEFAULT_DURATIONS,
    FALLBACK_DURATION,
    Duration,
    SimJob,
    Step,
    batch_steps,
    random_steps,
)
from ._volumes import Disks, Quirks

__all__ = ["BATCH", "SUB_TYPES", "Scenario", "Transition", "Volume"]

BATCH = "batchCreateVolume"
# ECS jobs share the job API: a server create is a batch of one sub-job per server.
SUB_TYPES = {BATCH: "createVolume", "createServer": "createSingleServer"}
_FAIL_CODE = "EVS.2024"
_FAIL_REASONS = {
    "createVolume": "create volume failed: No valid host was found. "
    "There are not enough hosts available.",
    BATCH: "create volume failed: No valid host was found. There are not enough hosts available.",
    "extendVolume": "extend volume failed: the storage pool does not have enough free capacity.",
    "deleteVolume": "delete volume failed: the volume still has snapshots.",
}
_FALLBACK_REASON = "job execution failed: the storage backend returned an error."
_VOLUME_TYPES = ("SATA", "SAS", "SSD", "GPSSD", "ESSD")
_SIZES = (10, 20, 40, 50, 100, 200, 500)

Timeline = Sequence[tuple[float, str]]


@attrs.frozen
class Transition:
    """One status a job or sub-job entered, at loop time `at` (ground truth).

    Attributes:
        job_id: the job or sub-job.
        parent_id: the batch job, for a sub-job; else None.
        status: the status entered.
        at: the loop time it was entered at.
    """

    job_id: str
    parent_id: str | None
    status: str
    at: float


@attrs.define
class Volume:
    """A disk the create calls made; extend and delete act on it."""

    size: int
    volume_type: str
    name: str


def _probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _as_duration(value: Duration | float) -> Duration:
    if isinstance(value, Duration):
        return value
    return Duration(float(value), 0.0, float(value), float(value))


def _check_timeline(timeline: Timeline) -> list[tuple[float, str]]:
    steps = [(float(offset), status) for offset, status in timeline]
    if not steps:
        raise ValueError("a timeline needs at least one (offset, status) step")
    offsets = [offset for offset, _ in steps]
    if offsets[0] < 0 or offsets != sorted(offsets):
        raise ValueError("timeline offsets must be >= 0 and non-decreasing")
    if not all(isinstance(status, str) and status for _, status in steps):
        raise ValueError("timeline statuses must be non-empty strings")
    return steps


class Scenario:
    """Jobs and volumes on the running loop's clock; the base of `EvsSimulator`."""

    def __init__(
        self,
        *,
        seed: int,
        speed: float,
        failure_rate: float,
        invisible_for: float,
        durations: Mapping[str, Duration | float] | None,
        quirks: Quirks | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        if invisible_for < 0:
            raise ValueError(f"invisible_for must be >= 0, got {invisible_for!r}")
        self.speed = float(speed)
        self.failure_rate = _probability("failure_rate", failure_rate)
        self.invisible_for = float(invisible_for)
        self._durations = dict(DEFAULT_DURATIONS)
        for job_type, value in (durations or {}).items():
            self._durations[job_type] = _as_duration(value)
        # Separate streams: enabling faults never changes the jobs a seed makes.
        self._rng = random.Random(f"evs-sim:{seed}:jobs")
        self._jobs: dict[str, SimJob] = {}
        self._top: list[str] = []
        self.volumes: dict[str, Volume] = {}
        self.disks = Disks(quirks or Quirks(), self.speed, self.wall_time)  # their statuses
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall_offset = 0.0

    # -- clock -------------------------------------------------------------

    def _now(self) -> float:
        """Loop time; binds the loop (and the loop-to-wall offset) on first use."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._wall_offset = time.time() - self._loop.time()
        return self._loop.time()

    def wall_time(self, loop_time: float | None = None) -> float:
        """Map a loop time (default now) to epoch seconds, as the bodies do."""
        now = self._now()
        return (now if loop_time is None else loop_time) + self._wall_offset

    # -- scenario API ------------------------------------------------------

    def add_volume(self, *, size: int = 10, volume_type: str = "SSD", name: str = "") -> str:
        """Register a disk (as if created earlier) and return its id."""
        volume_id = self._uuid()
        self.volumes[volume_id] = Volume(size, volume_type, name or f"volume-{volume_id[:4]}")
        self.disks.exists(volume_id, size, volume_type, self.volumes[volume_id].name, self._now())
        return volume_id

    def create_job(self, job_type: str = "createVolume", *, count: int = 1) -> str:
        """Create a job with a random seeded timeline, as the HTTP create calls do.

        `count` > 1 turns createVolume into a batchCreateVolume of `count` sub-jobs;
        batchCreateVolume always has `count` sub-jobs, and so has the ECS job
        createServer (createSingleServer sub-jobs). Types naming a Server carry a
        `server_id` rather than a `volume_id`.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        if job_type == "createServer":
            servers = [self._default_entities("createSingleServer") for _ in range(count)]
            return self._spawn_batch(job_type, servers)
        if job_type in ("createVolume", BATCH):
            size = self._rng.choice(_SIZES)
            kind = self._rng.choice(_VOLUME_TYPES)
            name = f"volume-{self._rng.getrandbits(16):04x}"
            batch = job_type == BATCH or count > 1
            return self._spawn_create(size, kind, name, count, batch=batch)
        return self._spawn(job_type, self._default_entities(job_type))

    def add_job(
        self,
        job_type: str = "createVolume",
        *,
        timeline: Timeline | None = None,
        sub_jobs: Sequence[Timeline] | None = None,
        fail: tuple[str, str] | None = None,
        entities: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a job with a scripted timeline and return its id.

        Args:
            timeline: `(offset, status)` steps, offsets in simulated seconds from
                now, any status text; before the first offset the job answers
                not-found. None gives a random timeline of `job_type`.
            sub_jobs: one timeline per sub-job (createVolume, or createSingleServer for
                createServer); the parent (type batchCreateVolume unless `job_type`
                says otherwise) follows them unless `timeline` is also given.
            fail: `(error_code, fail_reason)` shown once a job is FAIL.
            entities: extra or replacing keys in the parent's `entities`.
        """
        now = self._now()
        if timeline is None and sub_jobs is None:
            return self._random_scripted(job_type, fail, entities)
        sub_steps = [self._absolute(_check_timeline(sub), now) for sub in sub_jobs or ()]
        if sub_jobs is not None:
            job_type = BATCH if job_type == "createVolume" else job_type
        if timeline is not None:
            steps = self._absolute(_check_timeline(timeline), now)
        else:
            steps = batch_steps(sub_steps, start=now, settle=0.0)
        base = self._default_entities(job_type) if sub_jobs is None else {}
        sub_type = SUB_TYPES.get(job_type, "createVolume")
        subs = [
            (self._default_entities(sub_type), one, fail or self._fail_info(sub_type))
            for one in sub_steps
        ]
        entities = {**base, **(entities or {})}
        return self._register(job_type, steps, entities, fail, subs, now, sub_type)

    # -- ground truth ------------------------------------------------------

    @property
    def job_ids(self) -> list[str]:
        """Top-level job ids in creation order."""
        return list(self._top)

    @property
    def transitions(self) -> list[Transition]:
        """Every transition of every job and sub-job that has happened by now (loop
        time), ordered by time; the decided future is in `statuses` / `ended_at`."""
        now = self._now()
        found = [
            Transition(job.job_id, job.parent_id, status, at)
            for job in self._jobs.values()
            for at, status in job.steps
            if at <= now
        ]
        found.sort(key=lambda transition: transition.at)
        return found

    def statuses(self, job_id: str) -> list[str]:
        """The whole decided status sequence of a job or sub-job, in order."""
        return [status for _, status in self._job(job_id).steps]

    def outcome(self, job_id: str) -> str:
        """The final decided status (SUCCESS or FAIL unless scripted otherwise)."""
        return self._job(job_id).outcome

    def ended_at(self, job_id: str) -> float:
        """Loop time at which the job reaches its terminal status (`math.inf` if never)."""
        return self._job(job_id).ended_at

    def sub_job_ids(self, job_id: str) -> list[str]:
        """The sub-job ids of a batch job, in `sub_jobs` order."""
        return [sub.job_id for sub in self._job(job_id).subs]

    def disks_of(self, job_id: str) -> list[str]:
        """The disk ids a job and its sub-jobs name (their statuses: `disks`)."""
        jobs = (self._job(job_id), *self._job(job_id).subs)
        return [j.entities["volume_id"] for j in jobs if "volume_id" in j.entities]

    # -- used by the HTTP layer -------------------------------------------

    def _spawn_create(
        self, size: int, volume_type: str, name: str, count: int, *, batch: bool
    ) -> str:
        """Create disks (registered at once) and their job with a random timeline."""
        disks = []
        for index in range(count):
            disk_name = f"{name}-{index + 1:04d}" if batch else name
            volume_id = self._uuid()
            self.volumes[volume_id] = Volume(size, volume_type, disk_name)
            disks.append(
                {
                    "volume_type": volume_type,
                    "size": size,
                    "volume_id": volume_id,
                    "name": disk_name,
                }
            )
        if not batch:
            return self._spawn("createVolume", disks[0])
        return self._spawn_batch(BATCH, disks)

    def _spawn_batch(self, job_type: str, subs_entities: Sequence[Mapping[str, Any]]) -> str:
        """A batch job with one sub-job per entities mapping, each on a random timeline."""
        now = self._now()
        duration = self._duration(job_type)
        sub_type = SUB_TYPES[job_type]
        subs = []
        for entities in subs_entities:
            failed = self._rng.random() < self.failure_rate
            steps = random_steps(self._rng, duration, start=now, speed=self.speed, fail=failed)
            subs.append((entities, steps, self._fail_info(sub_type)))
        settle = self._rng.uniform(0.2, 1.0) / self.speed
        parent = batch_steps([steps for _, steps, _ in subs], start=now, settle=settle)
        return self._register(job_type, parent, {}, None, subs, now, sub_type)

    def _spawn(
        self, job_type: str, entities: Mapping[str, Any], fail: tuple[str, str] | None = None
    ) -> str:
        """Create a single (non-batch) job with a random timeline."""
        now = self._now()
        failed = self._rng.random() < self.failure_rate
        steps = random_steps(
            self._rng, self._duration(job_type), start=now, speed=self.speed, fail=failed
        )
        return self._register(job_type, steps, entities, fail, [], now)

    # -- internals ---------------------------------------------------------

    def _random_scripted(
        self, job_type: str, fail: tuple[str, str] | None, entities: Mapping[str, Any] | None
    ) -> str:
        job_id = self.create_job(job_type, count=2 if job_type in SUB_TYPES else 1)
        job = self._jobs[job_id]
        job.entities.update(entities or {})
        self.disks.follow(job, self.volumes)  # the disks its entities name now
        if fail is not None:
            for one in (job, *job.subs):
                one.fail = fail
        return job_id

    def _register(
        self,
        job_type: str,
        steps: Sequence[Step],
        entities: Mapping[str, Any],
        fail: tuple[str, str] | None,
        subs: Sequence[tuple[Mapping[str, Any], Sequence[Step], tuple[str, str]]],
        now: float,
        sub_type: str = "createVolume",
    ) -> str:
        job_id = self._hex_id()
        visible_at = now + self.invisible_for / self.speed
        sub_jobs = [
            SimJob(
                job_id=self._hex_id(),
                job_type=sub_type,
                steps=sub_steps,
                entities=sub_entities,
                fail=sub_fail,
                parent_id=job_id,
                wall_offset=self._wall_offset,
                visible_at=visible_at,
            )
            for sub_entities, sub_steps, sub_fail in subs
        ]
        if fail is None:
            failed = sorted((sub.ended_at, sub.fail) for sub in sub_jobs if sub.outcome == "FAIL")
            fail = failed[0][1] if failed else self._fail_info(job_type)
        job = SimJob(
            job_id=job_id,
            job_type=job_type,
            steps=steps,
            entities=entities,
            fail=fail,
            subs=sub_jobs,
            wall_offset=self._wall_offset,
            visible_at=visible_at,
        )
        self._jobs[job_id] = job
        self.disks.follow(job, self.volumes)
        self._top.append(job_id)
        for sub in sub_jobs:
            self._jobs[sub.job_id] = sub
        return job_id

    def _absolute(self, steps: list[tuple[float, str]], now: float) -> list[Step]:
        return [(now + offset / self.speed, status) for offset, status in steps]

    def _default_entities(self, job_type: str) -> dict[str, Any]:
        if job_type == "createVolume":
            size, kind = self._rng.choice(_SIZES), self._rng.choice(_VOLUME_TYPES)
            volume_id = self.add_volume(size=size, volume_type=kind)
            volume = self.volumes[volume_id]
            return {"volume_type": kind, "size": size, "volume_id": volume_id, "name": volume.name}
        if job_type == "extendVolume":
            return {"volume_id": self._uuid(), "size": self._rng.choice(_SIZES)}
        if "Server" in job_type:
            return {"server_id": self._uuid()}
        return {"volume_id": self._uuid()}

    def _duration(self, job_type: str) -> Duration:
        return self._durations.get(job_type, FALLBACK_DURATION)

    @staticmethod
    def _fail_info(job_type: str) -> tuple[str, str]:
        return _FAIL_CODE, _FAIL_REASONS.get(job_type, _FALLBACK_REASON)

    def _job(self, job_id: str) -> SimJob:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise KeyError(f"no such job: {job_id!r}") from None

    def _hex_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _uuid(self) -> str:
        text = f"{self._rng.getrandbits(128):032x}"
        return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:]}"
