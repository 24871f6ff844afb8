"""JobEvent, the callback signatures, and the pure diff that turns two polls into events."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Protocol

import attrs

from ._models import Job, JobStatus

__all__ = ["ErrorCallback", "EventCallback", "JobEvent", "diff"]


@attrs.frozen
class JobEvent:
    """A status change seen for a job or for a sub-job of a batch.

    Attributes:
        job: the job the event is about (the sub-job, for a sub-job event).
        previous: the status seen before, or None at first sight.
        parent: the batch job, for a sub-job event; else None.
    """

    job: Job
    previous: JobStatus | None = None
    parent: Job | None = None

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def status(self) -> JobStatus:
        return self.job.status

    @property
    def is_sub_job(self) -> bool:
        return self.parent is not None


class EventCallback(Protocol):
    """``on_status_change``, ``on_complete`` and ``on_fail``: a function or a coroutine."""

    def __call__(self, event: JobEvent, /) -> Awaitable[object] | object: ...


class ErrorCallback(Protocol):
    """``on_error``: called with the job id and the error that ended its watch."""

    def __call__(self, job_id: str, error: BaseException, /) -> Awaitable[object] | object: ...


def diff(
    previous: JobStatus | None,
    previous_subs: Mapping[str, JobStatus],
    job: Job,
) -> list[JobEvent]:
    """The events between what was seen before and ``job``, in delivery order.

    Sub-job events come first, in ``sub_jobs`` order, then the parent's. A job or
    sub-job already seen in a terminal status gets no further event, whatever the API
    says later, so a terminal event can never fire twice.
    """
    events: list[JobEvent] = []
    for sub in job.sub_jobs:
        before = previous_subs.get(sub.job_id)
        if before != sub.status and not (before is not None and before.is_terminal):
            events.append(JobEvent(sub, before, job))
    if job.status != previous and not (previous is not None and previous.is_terminal):
        events.append(JobEvent(job, previous))
    return events
