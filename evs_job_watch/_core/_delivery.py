"""Delivery: what a watch's events and errors turn into, for the user's callbacks and streams."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from .._models import Job, JobStatus
from ._events import ErrorCallback, EventCallback, JobEvent
from ._outbox import Callback, Item, Outbox, Record
from ._stream import EventStream
from ._tasks import TaskGroup

__all__ = ["Delivery"]


class Delivery:
    """The user's callbacks and the open event streams of one watcher."""

    __slots__ = (
        "_couriers",
        "_on_complete",
        "_on_error",
        "_on_fail",
        "_on_status_change",
        "streams",
    )

    def __init__(
        self,
        on_status_change: EventCallback | None,
        on_complete: EventCallback | None,
        on_fail: EventCallback | None,
        on_error: ErrorCallback | None,
        tasks: TaskGroup,
    ) -> None:
        self._on_status_change = on_status_change
        self._on_complete = on_complete
        self._on_fail = on_fail
        self._on_error = on_error
        self._couriers = tasks  # the watcher's task group runs the outboxes' couriers
        self.streams: set[EventStream] = set()

    def outbox(self) -> Outbox:
        """A new outbox, its couriers run in the watcher's task group."""
        return Outbox(self._couriers)

    def publish(self, events: Sequence[JobEvent]) -> None:
        """Publish ``events`` delivered by another replica to the streams (no callbacks)."""
        for stream in self.streams:
            stream.publish(events)

    def events(
        self, events: list[JobEvent], record: Callable[[JobEvent], None], ready: bool = False
    ) -> list[Item]:
        """Publish ``events`` to the streams; the items that deliver them to the callbacks.

        Each event's callbacks come first (its status change, then its complete or fail),
        then ``record`` of it: the watch counts it delivered only once they returned. In
        ready mode (``ready``) a SUCCESS is not yet complete: ``ready_events`` is.
        """
        for stream in self.streams:
            stream.publish(events)
        items: list[Item] = []
        for event in events:
            if self._on_status_change is not None:
                items.append(Callback(self._on_status_change, (event,)))
            status = event.status
            if status is JobStatus.SUCCESS and self._on_complete is not None and not ready:
                items.append(Callback(self._on_complete, (event,)))
            elif status is JobStatus.FAIL and self._on_fail is not None:
                items.append(Callback(self._on_fail, (event,)))
            items.append(Record(functools.partial(record, event)))
        return items

    def ready_events(self, job: Job) -> list[Item]:
        """Ready mode: ``job`` and its sub-jobs that succeeded are usable. The ready events
        (sub-jobs first, then the job) go to the streams and to ``on_complete``."""
        events = [JobEvent(sub, sub.status, job, ready=True) for sub in job.sub_jobs]
        events = [event for event in events if event.status is JobStatus.SUCCESS]
        events.append(JobEvent(job, job.status, ready=True))
        for stream in self.streams:
            stream.publish(events)
        if self._on_complete is None:
            return []
        return [Callback(self._on_complete, (event,)) for event in events]

    def error(self, job_id: str, error: BaseException) -> list[Item]:
        """The items that tell ``on_error`` a watch ended with ``error``."""
        if self._on_error is None:
            return []
        return [Callback(self._on_error, (job_id, error))]

    def close(self) -> None:
        """Close every stream (the watcher's task group ends the couriers)."""
        for stream in list(self.streams):
            stream.close()
