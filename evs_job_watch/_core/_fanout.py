"""Waiting on many handles at once: gather-like and as-completed, under one timeout."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from types import TracebackType

from .._errors import WatchTimeoutError
from .._models import Job
from ._handle import JobHandle

__all__ = ["CompletedJobs", "completed", "gather"]


async def gather(
    handles: Sequence[JobHandle], limit: float | None, return_exceptions: bool
) -> list[Job | BaseException]:
    """Like ``asyncio.gather`` over handles; unfinished ones are released on the way out."""
    try:
        if handles:
            await _all_done(handles, limit, stop_at_error=not return_exceptions)
        results = [
            h.outcome() if h.done() else WatchTimeoutError(h.job_id, limit or 0.0) for h in handles
        ]
        if not return_exceptions:
            # The first error in job order: a job's own error before a timeout.
            errors = [r for r in results if isinstance(r, BaseException)]
            own = [e for e in errors if not isinstance(e, WatchTimeoutError)]
            if errors:
                raise (own or errors)[0]
        return results
    finally:
        for handle in handles:
            handle.cancel()


async def _all_done(handles: Sequence[JobHandle], limit: float | None, stop_at_error: bool) -> None:
    """Until every handle is done, the first one ends in an error (if asked), or ``limit``."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    left = len(handles)

    def arrive(handle: JobHandle) -> None:
        nonlocal left
        left -= 1
        outcome = handle.outcome()
        failed = isinstance(outcome, Exception)  # an error, not a cancelled handle
        if (left == 0 or (stop_at_error and failed)) and not finished.done():
            finished.set_result(None)

    for handle in handles:
        handle.add_done_callback(arrive)
    # A timer rather than asyncio.wait_for, which before Python 3.12 can swallow a
    # cancellation that comes as the future completes.
    timer = None if limit is None else loop.call_later(limit, _settle, finished)
    try:
        await finished
    finally:
        if timer is not None:
            timer.cancel()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def completed(handles: Sequence[JobHandle], limit: float | None) -> AsyncGenerator[Job, None]:
    """Each handle's terminal Job in the order they end; errors and the timeout raise."""
    loop = asyncio.get_running_loop()
    finished: deque[JobHandle] = deque()
    arrived = asyncio.Event()

    def arrive(handle: JobHandle) -> None:
        finished.append(handle)
        arrived.set()

    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        arrived.set()

    for handle in handles:
        handle.add_done_callback(arrive)
    # A timer that wakes the loop below, rather than asyncio.wait_for (see _all_done).
    timer = None if limit is None else loop.call_later(limit, expire)
    try:
        for _ in handles:
            # An Event rather than a queue: a timeout can then never lose an arrival.
            while not finished:
                if expired:
                    late = next(h for h in handles if not h.done())
                    raise WatchTimeoutError(late.job_id, limit or 0.0)
                arrived.clear()
                await arrived.wait()
            yield finished.popleft().terminal_job()
    finally:
        if timer is not None:
            timer.cancel()
        for handle in handles:
            handle.cancel()


class CompletedJobs:
    """The terminal jobs of ``JobWatcher.as_completed``, in the order they end.

    An async iterator, and an async context manager that releases the jobs not yet
    yielded on the way out (``aclose`` does the same). Python tells an iterator nothing
    when a loop leaves it with ``break``: without ``async with`` or ``aclose``, the rest
    is released only once the iterator is garbage collected, and polled until then.
    """

    __slots__ = ("_handles", "_jobs")

    def __init__(self, handles: Sequence[JobHandle], limit: float | None) -> None:
        self._handles = handles
        self._jobs = completed(handles, limit)

    def __repr__(self) -> str:
        left = sum(not handle.done() for handle in self._handles)
        return f"<CompletedJobs {left} of {len(self._handles)} jobs to come>"

    def __aiter__(self) -> CompletedJobs:
        return self

    async def __anext__(self) -> Job:
        return await self._jobs.__anext__()

    async def __aenter__(self) -> CompletedJobs:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the jobs not yet yielded (their polling stops unless another holds them)."""
        await self._jobs.aclose()
        for handle in self._handles:  # a generator never started runs no ``finally``
            handle.cancel()
