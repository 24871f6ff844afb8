"""The job records the API returns, as frozen attrs classes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

__all__ = [
    "NO_ENTITIES",
    "NO_EXTRA",
    "ApiError",
    "Job",
    "JobEntities",
    "JobStatus",
    "JobType",
    "Volume",
]


class _OpenEnum(str, enum.Enum):
    """A string enum that also carries values it does not know, with their text kept."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        # A pseudo-member: an instance of the enum outside its member list, so an API that
        # adds a value tomorrow does not break parsing today.
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether this value is one of the enum's declared members."""
        return type(self).__members__.get(self._name_) is self

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class JobStatus(_OpenEnum):
    """A job's status; values the API adds later are kept and count as not terminal."""

    INIT = "INIT"
    """Created, not started yet."""
    RUNNING = "RUNNING"
    """Under way."""
    SUCCESS = "SUCCESS"
    """Ended well (terminal)."""
    FAIL = "FAIL"
    """Ended in failure (terminal); the job's ``error_code`` and ``fail_reason`` say why."""
    WAITING_EXECUTE = "WAITING_EXECUTE"
    """Queued, waiting to run."""
    LISTENING = "LISTENING"
    """Waiting for an event of another service."""

    @property
    def is_terminal(self) -> bool:
        """SUCCESS and FAIL end a job; every other status, unknown ones included, does not."""
        return self is _SUCCESS or self is _FAIL


# The members that end a job, as plain names: ``JobStatus.SUCCESS`` costs about ten times
# a global's look-up on CPython 3.11 (an enum class's attribute), and every poll asks.
_SUCCESS, _FAIL = JobStatus.SUCCESS, JobStatus.FAIL


class JobType(_OpenEnum):
    """The operation a job performs; unknown types are kept as text.

    EVS jobs first; ECS jobs (watched through the ECS endpoint, same job API) after.
    """

    CREATE_VOLUME = "createVolume"
    """Create one disk."""
    BATCH_CREATE_VOLUME = "batchCreateVolume"
    """Create several disks: one sub-job each."""
    DELETE_VOLUME = "deleteVolume"
    """Delete a disk."""
    EXTEND_VOLUME = "extendVolume"
    """Grow a disk."""
    BULK_DELETE_VOLUME = "bulkDeleteVolume"
    """Delete several disks: one sub-job each."""
    DELETE_SINGLE_VOLUME = "deleteSingleVolume"
    """One disk of a bulk delete (a sub-job)."""
    RETYPE_VOLUME = "retypeVolume"
    """Change a disk's type."""
    CREATE_SERVER = "createServer"
    """ECS: create servers, one sub-job each."""
    CREATE_SINGLE_SERVER = "createSingleServer"
    """ECS: one server of a create (a sub-job)."""
    DELETE_SERVER = "deleteServer"
    """ECS: delete servers."""


NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


def _read_only(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of ``value``, so that the caller's later changes do not leak in."""
    if value is NO_EXTRA or not value:
        return NO_EXTRA
    return MappingProxyType(dict(value))


@attrs.frozen
class ApiError:
    """An ``error`` object inside a job body.

    Attributes:
        code: the API error code, such as ``EVS.2024``.
        message: the API's message.
    """

    code: str | None = None
    message: str | None = None


@attrs.frozen
class JobEntities:
    """What a job is about; keys the library does not know are kept in ``extra``.

    Attributes:
        volume_id: the disk the job creates, extends or deletes.
        name: the disk's name.
        size: the disk's size in GB.
        volume_type: the disk type, such as ``SSD``.
        sub_jobs: the sub-jobs of a batch operation, in the API's order.
        server_id: the server of an ECS job.
        nic_id: the network interface of an ECS job, where it has one.
        extra: every other key of ``entities``, read-only.
    """

    volume_id: str | None = None
    name: str | None = None
    size: int | None = None
    volume_type: str | None = None
    server_id: str | None = None
    nic_id: str | None = None
    sub_jobs: tuple[Job, ...] = ()
    # Left out of the hash (a mapping cannot be hashed) but not out of equality.
    extra: Mapping[str, Any] = attrs.field(default=NO_EXTRA, converter=_read_only, hash=False)


NO_ENTITIES = JobEntities()


@attrs.frozen
class Job:
    """One answer of ``GET /v1/{project_id}/jobs/{job_id}``; sub-jobs are ``Job``s too.

    Attributes:
        job_id: the job's id.
        status: where the job is; unknown statuses are kept and are not terminal.
        job_type: the operation, such as ``createVolume``; None if the API gave none.
        begin_time: when the job began (aware, UTC), or None.
        end_time: when the job ended (aware, UTC), or None while it runs.
        error_code: the failure's code, such as ``EVS.2024``, or None.
        fail_reason: the failure's reason in words, or None.
        entities: what the job is about, sub-jobs included.
        error: an ``error`` object of the body, if it had one.
    """

    job_id: str
    status: JobStatus
    job_type: JobType | None = None
    begin_time: datetime | None = None
    end_time: datetime | None = None
    error_code: str | None = None
    fail_reason: str | None = None
    entities: JobEntities = NO_ENTITIES
    error: ApiError | None = None

    @property
    def sub_jobs(self) -> tuple[Job, ...]:
        """The sub-jobs of a batch operation, in the API's order; empty for other jobs."""
        return self.entities.sub_jobs

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended (SUCCESS or FAIL)."""
        return self.status.is_terminal


@attrs.frozen
class Volume:
    """A disk as the EVS disk API shows it (``os-vendor-volumes``), read in ready mode.

    Attributes:
        volume_id: the disk's id.
        status: its status as the API gives it: ``creating``, ``available``, ``in-use``,
            ``extending``, ``deleting``, ``error``, ``error_extending``, ... (any text).
        size: its size in GB, or None if the API gave none.
        name: its name, or None.
        server_ids: the servers it is attached to, in the API's order.
    """

    volume_id: str
    status: str
    size: int | None = None
    name: str | None = None
    server_ids: tuple[str, ...] = ()

    @property
    def is_usable(self) -> bool:
        """Whether it reads ``available`` or ``in-use``."""
        return self.status in ("available", "in-use")

    @property
    def is_error(self) -> bool:
        """Whether it reads an ``error*`` status."""
        return self.status.startswith("error")
