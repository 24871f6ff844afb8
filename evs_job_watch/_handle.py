"""JobHandle: one caller's claim on a watched job, awaitable for its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any

from ._errors import JobFailedError
from ._models import Job, JobStatus
from ._watch import Outcome, Watch

__all__ = ["JobHandle"]


class JobHandle:
    """A caller's view of one watched job, returned by ``JobWatcher.watch``.

    Awaiting it gives the terminal ``Job`` on SUCCESS and raises ``JobFailedError`` on
    FAIL, or the error that ended the watch. Several handles may share one watch; the
    watch stops polling when the job ends or when its last handle is cancelled or
    times out. A handle's own deadline (``timeout``) is a timer it owns.
    """

    __slots__ = ("_future", "_timer", "_watch")

    def __init__(self, watch: Watch, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._watch = watch
        self._future: asyncio.Future[Job] = loop.create_future()
        self._timer = None if timeout is None else loop.call_later(timeout, self._expire, timeout)
        self._future.add_done_callback(self._on_done)
        watch.hold(self)

    def __repr__(self) -> str:
        state = "done" if self._future.done() else "watching"
        return f"<JobHandle {self.job_id} {state}>"

    def __await__(self) -> Generator[Any, None, Job]:
        return self._future.__await__()

    @property
    def job_id(self) -> str:
        """The id of the watched job."""
        return self._watch.job_id

    @property
    def latest(self) -> Job | None:
        """The last state of the job seen by any poll, or None before the first answer."""
        return self._watch.latest

    def done(self) -> bool:
        """Whether the outcome is known (or the handle was cancelled)."""
        return self._future.done()

    def cancel(self) -> bool:
        """Stop waiting; the job stops being polled unless another handle holds it."""
        return self._future.cancel()

    # -- for the watch and for fan-out ---------------------------------------------------

    def settle(self, outcome: Outcome) -> None:
        """Resolve the handle with how its watch ended (once; later calls do nothing)."""
        if self._future.done():
            return
        if isinstance(outcome, Job):
            if outcome.status is not JobStatus.FAIL:
                self._future.set_result(outcome)
                return
            outcome = JobFailedError(outcome)
        self._future.set_exception(outcome)
        # Mark the error as seen: a watch driven only by callbacks need not await its
        # handle, and asyncio would otherwise log "exception was never retrieved".
        self._future.exception()

    def deadline(self) -> float | None:
        """The loop time at which this handle times out; None without a timeout."""
        return None if self._timer is None else self._timer.when()

    def add_done_callback(self, callback: Callable[[JobHandle], None]) -> None:
        """Call ``callback(handle)`` once the handle is done."""
        self._future.add_done_callback(lambda _: callback(self))

    def outcome(self) -> Job | BaseException:
        """A done handle's outcome: the Job, or the error (CancelledError if cancelled)."""
        if self._future.cancelled():
            return asyncio.CancelledError()
        return self._future.exception() or self._future.result()

    def terminal_job(self) -> Job:
        """A done handle's job, SUCCESS or FAIL alike; any other error is raised."""
        outcome = self.outcome()
        if isinstance(outcome, JobFailedError):
            return outcome.job
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _expire(self, limit: float) -> None:
        self._timer = None
        self._watch.expired(self, limit)

    def _on_done(self, future: asyncio.Future[Job]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # Cancellation may come from outside (the awaiting task was cancelled, as in
        # asyncio.wait_for): either way this handle no longer holds the watch.
        self._watch.released(self)
