"""The tests' virtual clock: it jumps over idle time, never over a thread's work."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .clock import VirtualClockLoop

pytestmark = pytest.mark.virtual_clock


async def test_idle_time_passes_at_once_and_exactly() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualClockLoop)
    started = time.monotonic()
    await asyncio.sleep(3600)
    assert loop.time() == 3600
    assert time.monotonic() - started < 60  # an hour of virtual time, not of real time


async def test_a_timeout_does_not_run_out_while_a_thread_works() -> None:
    loop = asyncio.get_running_loop()
    before = loop.time()
    # The thread needs real time; a clock that jumped to the timeout would cancel it.
    await asyncio.wait_for(loop.run_in_executor(None, time.sleep, 0.05), timeout=1)
    assert loop.time() == before
    await asyncio.sleep(1)
    assert loop.time() == before + 1


async def test_work_cancelled_before_it_started_does_not_hold_the_clock() -> None:
    loop = asyncio.get_running_loop()
    ran = threading.Event()
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as executor:
        first = loop.run_in_executor(executor, gate.wait, 5)
        queued = loop.run_in_executor(executor, ran.set)  # waits behind the first
        queued.cancel()
        await asyncio.sleep(0)
        gate.set()
        assert await first is True
    assert not ran.is_set()
    before = loop.time()
    await asyncio.sleep(30)  # would wait for the dropped work, then fail as a hang
    assert loop.time() == before + 30


def test_closing_waits_for_the_executors_threads_within_its_timeout() -> None:
    loop = VirtualClockLoop()
    try:
        # Still sleeping when the shutdown starts, so joining it takes real time; the
        # timeout (from 3.12 on) is virtual and would run out first, with a warning.
        loop.run_in_executor(None, time.sleep, 0.2)
        timeout = (300,) if sys.version_info >= (3, 12) else ()
        loop.run_until_complete(loop.shutdown_default_executor(*timeout))
        assert loop.time() == 0
    finally:
        loop.close()


async def test_a_short_run_of_busy_turns_leaves_the_clock_exact() -> None:
    loop = asyncio.get_running_loop()
    before = loop.time()
    for _ in range(5_000):  # far more turns in a row than any honest test makes
        await asyncio.sleep(0)
    assert loop.time() == before


async def test_code_that_busy_waits_for_time_sees_it_pass() -> None:
    loop = asyncio.get_running_loop()
    mark = loop.time() + 0.0004  # a wait too short to be worth a timer
    for _ in range(1_000_000):  # bounded: a clock that never moves fails, not hangs
        if loop.time() >= mark:
            break
        await asyncio.sleep(0)  # back in line at the next turn, as a busy-wait does
    assert mark <= loop.time() < mark + 0.001


async def test_a_busy_wait_never_steps_past_a_timer() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    loop.call_later(0.0001, lambda: fired.append(loop.time()))
    mark = loop.time() + 1
    for _ in range(1_000_000):
        if loop.time() >= mark:
            break
        await asyncio.sleep(0)
    assert fired == [0.0001]
