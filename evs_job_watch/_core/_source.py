"""What a watcher polls: the ``JobSource`` protocol, and the ``AnswerSource`` it prefers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .._models import Job
from .._wire._codec import Answer

__all__ = ["AnswerSource", "JobSource"]


class JobSource(Protocol):
    """What ``JobWatcher`` polls: ``EvsJobClient``, or anything with its ``get_job``.

    A source that also has ``EvsJobClient``'s ``poll_job(job_id, last)``, returning an
    ``Answer``, is polled through that instead: it tells an unchanged body without
    decoding it. (The watcher looks for a method of that name: give a source of your own
    a ``poll_job`` only with that meaning.)
    """

    async def get_job(self, job_id: str) -> Job:
        """The job's current state; raises an ``EvsJobWatchError`` subclass on failure."""
        ...


@runtime_checkable
class AnswerSource(Protocol):
    """A source that knows a body it has seen before, and then decodes nothing.

    ``EvsJobClient.poll_job``: it gives ``last`` back when the body is the one ``last``
    was decoded from, so the watch sees at once that nothing changed.
    """

    async def poll_job(self, job_id: str, last: Answer | None) -> Answer: ...
