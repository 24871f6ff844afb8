"""EventStream: every JobEvent of a watcher, for one subscriber, in a bounded buffer."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType

from .._validate import positive_int
from ._events import JobEvent

__all__ = ["EventStream"]


class EventStream:
    """An async iterator of the watcher's events, from its creation until it is closed.

    The buffer holds at most ``max_pending`` events. A subscriber that falls further
    behind loses the oldest ones, never blocks the watcher, and can read how many it
    lost in ``dropped``. The iteration ends once the stream or its watcher is closed
    and the buffer is empty.
    """

    __slots__ = ("_buffer", "_closed", "_on_close", "_waiter", "dropped")

    def __init__(self, max_pending: int, on_close: Callable[[EventStream], None]) -> None:
        positive_int(max_pending, "max_pending")
        self._buffer: deque[JobEvent] = deque(maxlen=max_pending)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._on_close = on_close
        self.dropped = 0

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> JobEvent:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._buffer.popleft()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop receiving events; the iteration ends after those already buffered."""
        if not self._closed:
            self._closed = True
            self._on_close(self)
            self._wake()

    def publish(self, events: Iterable[JobEvent]) -> None:
        """Add ``events`` (the watcher calls this; the oldest are dropped past the limit)."""
        buffer = self._buffer
        for event in events:
            if len(buffer) == buffer.maxlen:
                self.dropped += 1
            buffer.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
