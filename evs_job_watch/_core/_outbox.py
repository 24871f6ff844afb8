"""Outbox: one watch's deliveries, run in order and one at a time.

It carries two kinds of item, told apart by their type:

- ``Callback``: the user's code (``on_status_change``, ``on_complete``, ``on_fail``,
  ``on_error``), a plain function or a coroutine function. It runs guarded: what it
  raises is logged and changes nothing else.
- ``Record``: the watch's own bookkeeping (an event counted as delivered, the waiters
  told how the watch ended).

The one ordering everything relies on: a ``Record`` runs only once every item posted
before it has finished. So an event counts as delivered, and reaches a snapshot, only
after its callbacks returned (at-least-once delivery across a crash), and a waiter is
told only after its job's terminal callbacks returned.

Plain functions run at once, in the caller's stack; the first coroutine hands the rest
of the outbox to a courier task of its own, so a slow callback delays only its job.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs

from ._tasks import TaskGroup

__all__ = ["Callback", "Item", "Outbox", "Record"]

logger = logging.getLogger("evs_job_watch")


@attrs.frozen(slots=True)
class Callback:
    """A user's callback and its arguments."""

    function: Callable[..., object]
    args: tuple[Any, ...]


@attrs.frozen(slots=True)
class Record:
    """A step of the watch's own bookkeeping; it never raises and never awaits."""

    step: Callable[[], None]


Item = Callback | Record


class Outbox:
    """The items of one watch not yet run, and whether a run is under way."""

    __slots__ = ("_busy", "_couriers", "_items")

    def __init__(self, couriers: TaskGroup) -> None:
        self._couriers = couriers
        self._items: list[Item] = []  # short: the events of a poll or two
        self._busy = False

    def post(self, items: Iterable[Item]) -> None:
        """Run ``items`` after those posted before them."""
        self._items.extend(items)
        if not self._busy:  # else a run is under way (a courier, or a caller up the stack)
            self._run()

    @property
    def idle(self) -> bool:
        """Whether every item posted has run (no courier is carrying any)."""
        return not self._busy and not self._items

    def cancel(self) -> None:
        """Drop every item not yet run (the watcher is closing)."""
        self._items.clear()

    def _run(self) -> None:
        self._busy = True
        items = self._items
        while items:
            pending = _run(items.pop(0))
            if pending is not None:
                self._couriers.start(self._carry(pending))
                return
        self._busy = False

    async def _carry(self, pending: Awaitable[object]) -> None:
        await _guarded(pending)
        items = self._items
        while items:
            pending_next = _run(items.pop(0))
            if pending_next is not None:
                await _guarded(pending_next)
        self._busy = False


def _run(item: Item) -> Awaitable[object] | None:
    """Run an item; return the awaitable a coroutine callback made, if any."""
    if isinstance(item, Record):
        item.step()
        return None
    try:
        result = item.function(*item.args)
    except Exception:
        logger.exception("callback %r raised", item.function)
        return None
    return result if inspect.isawaitable(result) else None


async def _guarded(awaitable: Awaitable[object]) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("callback coroutine %r raised", awaitable)
