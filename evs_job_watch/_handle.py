"""JobHandle: one caller's claim on a watched job, awaitable for its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from ._errors import JobFailedError
from ._models import Job, JobStatus

if TYPE_CHECKING:
    from ._watch import Watch

__all__ = ["JobHandle", "Outcome"]

# How a watch ended: the terminal Job, or the error that ended it.
Outcome = Job | BaseException


class JobHandle:
    """A caller's view of one watched job, returned by ``JobWatcher.watch``.

    Awaiting it gives the terminal ``Job`` on SUCCESS and raises ``JobFailedError`` on
    FAIL, or the error that ended the watch. Several handles may share one watch; the
    watch stops polling when the job ends or when its last handle is cancelled or
    times out.
    """

    __slots__ = ("_future", "_release", "_timer", "_watch")

    def __init__(self, watch: Watch, release: Callable[[JobHandle], None]) -> None:
        self._watch = watch
        self._release = release
        self._timer: asyncio.TimerHandle | None = None
        self._future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._future.add_done_callback(self._on_done)

    def __repr__(self) -> str:
        state = "done" if self._future.done() else "watching"
        return f"<JobHandle {self.job_id} {state}>"

    def __await__(self) -> Generator[Any, None, Job]:
        return self._future.__await__()

    @property
    def job_id(self) -> str:
        return self._watch.job_id

    @property
    def latest(self) -> Job | None:
        """The last state of the job seen by any poll, or None before the first answer."""
        return self._watch.latest

    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> bool:
        """Stop waiting; the job stops being polled unless another handle holds it."""
        return self._future.cancel()

    def _settle(self, outcome: Outcome) -> None:
        if self._future.done():
            return
        if isinstance(outcome, Job):
            if outcome.status is JobStatus.FAIL:
                outcome = JobFailedError(outcome)
            else:
                self._future.set_result(outcome)
                return
        self._future.set_exception(outcome)
        # Mark the error as seen: a watch driven only by callbacks need not await its
        # handle, and asyncio would otherwise log "exception was never retrieved".
        self._future.exception()

    def _on_done(self, future: asyncio.Future[Job]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # Cancellation may come from outside (the awaiting task was cancelled, as in
        # asyncio.wait_for): either way this handle no longer holds the watch.
        self._release(self)

    def _terminal_job(self) -> Job:
        """The outcome as a Job (SUCCESS or FAIL alike); other errors are raised."""
        try:
            return self._future.result()
        except JobFailedError as exc:
            return exc.job
