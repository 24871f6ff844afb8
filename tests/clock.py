"""An event loop whose clock jumps to the next timer whenever nothing is ready to run.

Tests of timing (intervals, backoff, timeouts) then run in no real time and give the
same times on a slow machine as on a fast one: every ``loop.time()`` they read is exact.

Time stands still while a thread works for the loop (``run_in_executor``, which also
serves ``getaddrinfo`` and ``to_thread``, and the default executor's shutdown): the loop
waits for the thread in real time instead. A real clock would see such work finish long
before any timer of a test; jumping over it would fire timeouts the thread never earned
(the executor's 300 s shutdown timeout fired while its threads were joining).

Time also passes, a little, for code that waits for it without a timer: a loop busy for
10,000 turns in a row at one instant is taken to be busy-waiting (``call_soon`` until
``loop.time()`` reaches a mark), which a real clock would end within the millisecond. The
clock then steps ahead, from a microsecond and doubling, never past the next timer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_REAL_WAIT = 10.0  # seconds of real time with nothing scheduled before we call it a hang
_THREAD_POLL = 0.05  # real seconds between looks at the threads, should a wake-up be missed
# Busy turns in a row at one instant before time is let pass: the suite's longest honest run
# is about 30 turns (a fan-out starts one worker per turn), a busy-wait makes 10,000 in
# well under a second.
_SPIN_TURNS = 10_000
_SPIN_STEP = 1e-6  # seconds: the first step of a busy-wait; each next one doubles


class _ThreadWork:
    """How many pieces of work the loop has handed to threads and not yet seen end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # taken by the loop and by worker threads
        self._pending = 0

    def busy(self) -> bool:
        with self._lock:
            return self._pending > 0

    def add(self, change: int) -> None:
        with self._lock:
            self._pending += change


class _Ticket:
    """One function submitted to an executor: pending until it returns, or until it is
    cancelled before a thread picked it up (then it never runs at all)."""

    def __init__(self, work: _ThreadWork) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._state = "queued"
        work.add(1)

    def start(self) -> bool:
        """In the thread: False if the work was dropped meanwhile and must not run."""
        with self._lock:
            if self._state != "queued":
                return False
            self._state = "running"
            return True

    def end(self) -> None:
        with self._lock:
            self._state = "ended"
        self._work.add(-1)

    def drop(self) -> None:
        """On the loop, once the caller cancelled: only work no thread has started ends."""
        with self._lock:
            if self._state != "queued":
                return
            self._state = "dropped"
        self._work.add(-1)


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop
        self._busy_turns = 0
        self._step = _SPIN_STEP

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if timeout == 0 and self._loop.has_ready_callbacks():
            self._busy_turn()
            return events
        self._busy_turns, self._step = 0, _SPIN_STEP
        if events:
            return events
        if self._loop.threads_busy():
            return self._wait_for_threads()
        if timeout is None:
            # Nothing is scheduled: only real I/O (a thread, a socket) can wake us.
            events = super().select(_REAL_WAIT)
            if not events:
                raise RuntimeError("virtual clock: nothing is scheduled and nothing arrived")
            return events
        # At least one step of the float: code that re-arms a timer for "a hair later"
        # (rate limiters do) must see time move, as it would on a real clock.
        now = self._loop.now
        self._loop.now = max(now + (timeout or 0.0), math.nextafter(now, math.inf))
        return events

    def _busy_turn(self) -> None:
        """Count a turn with callbacks ready; past _SPIN_TURNS, let time pass a little."""
        self._busy_turns += 1
        if self._busy_turns <= _SPIN_TURNS:
            return
        now = self._loop.now
        self._loop.now = min(now + self._step, self._loop.next_timer(default=math.inf))
        self._loop.now = max(self._loop.now, now)  # a timer already due: no going back
        self._step *= 2

    def _wait_for_threads(self) -> list[Any]:
        """Real I/O, or an empty list once no thread works for the loop; the clock stays."""
        give_up = time.monotonic() + _REAL_WAIT
        while self._loop.threads_busy():
            # A thread's result arrives through the loop's self-pipe, so this wakes at once;
            # the short slices only guard against work that ends without calling back.
            events = super().select(_THREAD_POLL)
            if events:
                return events
            if time.monotonic() > give_up:
                raise RuntimeError(f"virtual clock: a thread has worked for {_REAL_WAIT} s")
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop on virtual time, starting at 0."""

    def __init__(self) -> None:
        self.now = 0.0
        self._thread_work = _ThreadWork()
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now

    def has_ready_callbacks(self) -> bool:
        return bool(self._ready)  # type: ignore[attr-defined]

    def next_timer(self, *, default: float) -> float:
        """When the earliest timer is due (``default`` without one)."""
        scheduled = self._scheduled  # type: ignore[attr-defined]
        return scheduled[0].when() if scheduled else default  # type: ignore[no-any-return]

    def threads_busy(self) -> bool:
        """Whether a thread is (or is about to be) working for this loop."""
        return self._thread_work.busy()

    def run_in_executor(  # type: ignore[override]
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[..., T],
        *args: Any,
    ) -> asyncio.Future[T | None]:
        ticket = _Ticket(self._thread_work)

        def run() -> T | None:
            if not ticket.start():
                return None  # cancelled before it started: nobody awaits the result
            try:
                return func(*args)
            finally:
                ticket.end()

        try:
            future = super().run_in_executor(executor, run)
        except BaseException:
            ticket.drop()  # refused (a shut-down executor): no thread will ever run it
            raise
        future.add_done_callback(lambda done: ticket.drop() if done.cancelled() else None)
        return future

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        # The executor's threads are joined by a thread of their own, under a timeout
        # (300 s since Python 3.12) that must not run out on virtual time.
        self._thread_work.add(1)
        try:
            await super().shutdown_default_executor(*args, **kwargs)
        finally:
            self._thread_work.add(-1)
