"""JobHandle: one caller's claim on a watched job, awaitable for its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any

from .._errors import JobFailedError
from .._models import Job, JobStatus
from ._watch import Outcome, Watch

__all__ = ["JobHandle"]


class JobHandle:
    """A caller's view of one watched job, returned by ``JobWatcher.watch``.

    Awaiting it gives the terminal ``Job`` on SUCCESS and raises ``JobFailedError`` on
    FAIL, or the error that ended the watch. Several handles may share one watch; the
    watch stops polling when the job ends or when its last handle is cancelled or
    times out. A handle's own deadline (``timeout``) is a timer it owns.
    """

    # A future only once someone awaits the handle: a fan-out of many thousand watches
    # that is followed through callbacks or ``wait_all`` then keeps no future per job.
    __slots__ = ("_callbacks", "_future", "_outcome", "_timer", "_watch")

    def __init__(self, watch: Watch, timeout: float | None) -> None:
        self._watch = watch
        self._outcome: Job | BaseException | None = None  # set once, when done
        self._future: asyncio.Future[Job] | None = None
        self._callbacks: tuple[Callable[[JobHandle], None], ...] = ()  # usually one, or none
        self._timer = None
        if timeout is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(timeout, self._expire, timeout)
        watch.hold(self)

    def __repr__(self) -> str:
        state = "done" if self.done() else "watching"
        return f"<JobHandle {self.job_id} {state}>"

    def __await__(self) -> Generator[Any, None, Job]:
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
            if self._outcome is None:
                # Cancelling the awaiting task cancels this future: the handle lets go then.
                self._future.add_done_callback(self._on_cancelled)
            else:
                _resolve(self._future, self._outcome)
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
        return self._outcome is not None

    def cancel(self) -> bool:
        """Stop waiting; the job stops being polled unless another handle holds it."""
        if self._outcome is not None or (self._future is not None and not self._future.cancel()):
            return False
        self._finish(asyncio.CancelledError())
        return True

    # -- for the watch and for fan-out ---------------------------------------------------

    def settle(self, outcome: Outcome) -> None:
        """Resolve the handle with how its watch ended (once; later calls do nothing)."""
        if self._outcome is not None:
            return
        if isinstance(outcome, Job) and outcome.status is JobStatus.FAIL:
            outcome = JobFailedError(outcome)
        if self._future is not None:
            _resolve(self._future, outcome)
        self._finish(outcome)

    def deadline(self) -> float | None:
        """The loop time at which this handle times out; None without a timeout."""
        return None if self._timer is None else self._timer.when()

    def add_done_callback(self, callback: Callable[[JobHandle], None]) -> None:
        """Call ``callback(handle)`` once the handle is done (soon after, like a future)."""
        if self._outcome is not None:
            asyncio.get_running_loop().call_soon(callback, self)
        else:
            self._callbacks = (*self._callbacks, callback)

    def outcome(self) -> Job | BaseException:
        """A done handle's outcome: the Job, or the error (CancelledError if cancelled)."""
        if self._outcome is None:
            raise asyncio.InvalidStateError("the handle is not done")
        return self._outcome

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

    def _on_cancelled(self, future: asyncio.Future[Job]) -> None:
        # Cancellation may come from outside (the awaiting task was cancelled, as in
        # asyncio.wait_for): either way this handle no longer holds the watch.
        if future.cancelled() and self._outcome is None:
            self._finish(asyncio.CancelledError())

    def _finish(self, outcome: Job | BaseException) -> None:
        """Done: the timer stops, the watch is let go, the callbacks are called soon."""
        self._outcome = outcome
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._watch.released(self)
        callbacks, self._callbacks = self._callbacks, ()
        if callbacks:
            loop = asyncio.get_running_loop()
            for callback in callbacks:
                loop.call_soon(callback, self)


def _resolve(future: asyncio.Future[Job], outcome: Job | BaseException) -> None:
    """Give ``future`` the outcome (a Job or an error), unless it is done already."""
    if future.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        future.cancel()
    elif isinstance(outcome, BaseException):
        future.set_exception(outcome)
        # Mark the error as seen: a watch driven only by callbacks need not await its
        # handle, and asyncio would otherwise log "exception was never retrieved".
        future.exception()
    else:
        future.set_result(outcome)
