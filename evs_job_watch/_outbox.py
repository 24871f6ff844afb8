"""Callbacks run in order per job: plain functions at once, coroutines in a task per job."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["Call", "Dispatcher", "HasOutbox"]

logger = logging.getLogger("evs_job_watch")

Call = tuple[Callable[..., Any], tuple[Any, ...]]


class HasOutbox(Protocol):
    """Anything with an ``outbox`` slot: the calls not yet run, or None when idle."""

    outbox: deque[Call] | None


class Dispatcher:
    """Runs each owner's calls in order, one at a time, and errors never escape.

    Plain functions run at once; the first coroutine moves the rest of that owner's
    calls into a task of its own (a courier), so a slow callback delays only its job.
    """

    def __init__(self) -> None:
        self._couriers: set[asyncio.Task[None]] = set()

    def post(self, owner: HasOutbox, calls: list[Call]) -> None:
        if owner.outbox is not None:
            owner.outbox.extend(calls)
            return  # a run is under way (a courier, or a caller up the stack)
        outbox = owner.outbox = deque(calls)
        while outbox:
            function, args = outbox.popleft()
            pending = _call(function, args)
            if pending is not None:
                task = asyncio.get_running_loop().create_task(self._courier(owner, outbox, pending))
                self._couriers.add(task)
                task.add_done_callback(self._couriers.discard)
                return
        owner.outbox = None

    async def _courier(
        self, owner: HasOutbox, outbox: deque[Call], pending: Awaitable[object]
    ) -> None:
        await _guarded(pending)
        # The outbox is dropped when the watcher closes (maybe by this very callback).
        while outbox and owner.outbox is outbox:
            function, args = outbox.popleft()
            result = _call(function, args)
            if result is not None:
                await _guarded(result)
        if owner.outbox is outbox:
            owner.outbox = None

    def tasks(self) -> set[asyncio.Task[None]]:
        """The couriers running now."""
        return set(self._couriers)


def _call(function: Callable[..., Any], args: tuple[Any, ...]) -> Awaitable[object] | None:
    """Run a callback; return its awaitable if it made one. Errors are logged, not raised."""
    try:
        result = function(*args)
    except Exception:
        logger.exception("callback %r raised", function)
        return None
    return result if inspect.isawaitable(result) else None


async def _guarded(awaitable: Awaitable[object]) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("callback coroutine %r raised", awaitable)
