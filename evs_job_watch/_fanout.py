"""Waiting on many handles at once: gather-like and as-completed, under one timeout."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence

from ._errors import WatchTimeoutError
from ._handle import JobHandle
from ._models import Job

__all__ = ["completed", "gather"]


async def gather(
    handles: Sequence[JobHandle], limit: float | None, return_exceptions: bool
) -> list[Job | BaseException]:
    """Like ``asyncio.gather`` over handles; unfinished ones are released on the way out."""
    try:
        if handles:
            await asyncio.wait(
                [handle._future for handle in handles],
                timeout=limit,
                return_when=asyncio.ALL_COMPLETED if return_exceptions else asyncio.FIRST_EXCEPTION,
            )
        results: list[Job | BaseException] = []
        for handle in handles:
            future = handle._future
            if not future.done():
                results.append(WatchTimeoutError(handle.job_id, limit or 0.0))
            elif future.cancelled():
                results.append(asyncio.CancelledError())
            else:
                results.append(future.exception() or future.result())
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


async def completed(handles: Sequence[JobHandle], limit: float | None) -> AsyncIterator[Job]:
    """Each handle's terminal Job in the order they end; errors and the timeout raise."""
    loop = asyncio.get_running_loop()
    deadline = None if limit is None else loop.time() + limit
    finished: deque[JobHandle] = deque()
    arrived = asyncio.Event()

    def arrive(handle: JobHandle) -> None:
        finished.append(handle)
        arrived.set()

    for handle in handles:
        handle._future.add_done_callback(lambda _, h=handle: arrive(h))  # type: ignore[misc]
    try:
        for _ in handles:
            # An Event rather than a queue: a timeout can then never lose an arrival.
            while not finished:
                arrived.clear()
                remaining = None if deadline is None else deadline - loop.time()
                try:
                    if remaining is not None and remaining <= 0:
                        raise asyncio.TimeoutError
                    await asyncio.wait_for(arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    late = next(h for h in handles if not h.done())
                    raise WatchTimeoutError(late.job_id, limit or 0.0) from None
            yield finished.popleft()._terminal_job()
    finally:
        for handle in handles:
            handle.cancel()
