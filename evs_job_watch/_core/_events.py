"""JobEvent, the callback signatures, and the pure diff that turns two polls into events.

``Statuses`` is the bookkeeping of one watch's statuses (the job's and its sub-jobs'):
a watch keeps one for what it has seen and one for what it has delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Protocol

import attrs

from .._models import Job, JobStatus

__all__ = ["ErrorCallback", "EventCallback", "JobEvent", "Statuses", "diff"]


@attrs.frozen
class JobEvent:
    """A status change seen for a job or for a sub-job of a batch.

    Attributes:
        job: the job the event is about (the sub-job, for a sub-job event).
        previous: the status seen before, or None at first sight.
        parent: the batch job, for a sub-job event; else None.
        ready: True for the event of ready mode that tells the job (or sub-job) is
            usable, not only done: it follows its SUCCESS ("job done") event, and is the
            one that ``on_complete`` gets in ready mode.
    """

    job: Job
    previous: JobStatus | None = None
    parent: Job | None = None
    ready: bool = False

    @property
    def job_id(self) -> str:
        """The id of the job (or sub-job) the event is about."""
        return self.job.job_id

    @property
    def status(self) -> JobStatus:
        """The status the job (or sub-job) has reached."""
        return self.job.status

    @property
    def is_sub_job(self) -> bool:
        """Whether the event is about a sub-job of a batch."""
        return self.parent is not None

    @property
    def event_id(self) -> str:
        """The transition's own id, the same on every replica and after any restart:
        ``job:previous>status``, the job being ``batch/sub-job`` for a sub-job and the
        previous status ``-`` at first sight (``job-1:RUNNING>SUCCESS``).

        An at-least-once callback is made idempotent by remembering the ids it handled.
        """
        job = self.job.job_id if self.parent is None else f"{self.parent.job_id}/{self.job.job_id}"
        previous = "-" if self.previous is None else self.previous.value
        return f"{job}:{previous}>{self.job.status.value}"


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


class Statuses:
    """A job's status and its sub-jobs' statuses, as far as one side of a watch knows them."""

    __slots__ = ("job", "subs")

    def __init__(
        self, job: JobStatus | None = None, subs: Mapping[str, JobStatus] | None = None
    ) -> None:
        self.job = job
        # Sub-job statuses by id; None until a batch shows its sub-jobs (most jobs never do).
        self.subs: dict[str, JobStatus] | None = dict(subs) if subs else None

    def changes(self, job: Job) -> list[JobEvent]:
        """The events from these statuses to ``job``'s, in delivery order."""
        return diff(self.job, self.subs or {}, job)

    def record(self, event: JobEvent) -> None:
        """Take ``event``'s status as known."""
        if event.parent is None:
            self.job = event.status
        elif self.subs is None:
            self.subs = {event.job_id: event.status}
        else:
            self.subs[event.job_id] = event.status

    @property
    def ended(self) -> bool:
        """Whether the job itself is known to have reached SUCCESS or FAIL."""
        return self.job is not None and self.job.is_terminal
