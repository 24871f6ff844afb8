"""JobHandle: awaitable at any time, done at once when cancelled, callbacks called soon
after (never inside the watcher's own step), whether or not anyone awaited it."""

from __future__ import annotations

import asyncio
import gc

import pytest

from evs_job_watch import JobFailedError, JobHandle, JobWatcher, PollPolicy, ServerError

from .scripted import ScriptedClient, make_job

pytestmark = pytest.mark.virtual_clock

STEADY = PollPolicy(interval=1, max_interval=1, jitter=0)


async def test_a_handle_awaited_after_its_job_ended_gives_the_job() -> None:
    client = ScriptedClient()
    client.script("ok", make_job("ok", "SUCCESS"))
    client.script("bad", make_job("bad", "FAIL"))
    async with JobWatcher(client, policy=STEADY) as watcher:
        ok, bad = watcher.watch("ok"), watcher.watch("bad")
        await asyncio.sleep(5)
        assert ok.done() and bad.done()
        job = await ok
        with pytest.raises(JobFailedError) as caught:
            await bad
    assert job.status.value == "SUCCESS"
    assert caught.value.job.job_id == "bad"
    assert ok.outcome() is job
    assert bad.terminal_job() is caught.value.job


async def test_a_cancelled_handle_is_done_at_once_and_only_once() -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"))
    async with JobWatcher(client, policy=STEADY) as watcher:
        handle = watcher.watch("j")
        assert not handle.done()
        assert handle.cancel()
        assert handle.done()
        assert not handle.cancel()
        assert isinstance(handle.outcome(), asyncio.CancelledError)
        with pytest.raises(asyncio.CancelledError):
            await handle


async def test_cancelling_an_awaited_handle_cancels_its_waiter() -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"))
    async with JobWatcher(client, policy=STEADY) as watcher:
        handle = watcher.watch("j")
        waiter = asyncio.ensure_future(_wait(handle))
        await asyncio.sleep(2)  # the waiter awaits the handle by now
        assert handle.cancel()
        assert handle.done()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert watcher.watching() == frozenset()


async def _wait(handle: JobHandle) -> object:
    return await handle


async def test_done_callbacks_are_called_soon_after_and_once() -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"), make_job("j", "SUCCESS"))
    called: list[tuple[str, bool]] = []
    async with JobWatcher(client, policy=STEADY) as watcher:
        handle = watcher.watch("j")
        handle.add_done_callback(lambda h: called.append(("before", h.done())))
        await handle
        assert called == []  # not inside the step that settled it
        await asyncio.sleep(0)
        assert called == [("before", True)]
        handle.add_done_callback(lambda h: called.append(("after", h.done())))
        assert called == [("before", True)]
        await asyncio.sleep(0)
    assert called == [("before", True), ("after", True)]


async def test_an_error_nobody_awaits_is_not_reported_as_unretrieved() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    client = ScriptedClient()
    client.script("j", ServerError("down", status=503, job_id="j"))
    policy = PollPolicy(interval=1, jitter=0, max_consecutive_errors=1)
    async with JobWatcher(client, policy=policy) as watcher:
        handle = watcher.watch("j")
        await asyncio.sleep(5)
        assert isinstance(handle.outcome(), ServerError)
        handle.add_done_callback(lambda _: None)
        await asyncio.sleep(0)
    del handle
    gc.collect()
    assert reported == []


async def test_outcome_before_the_end_is_an_error() -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"))
    async with JobWatcher(client, policy=STEADY) as watcher:
        handle = watcher.watch("j")
        with pytest.raises(asyncio.InvalidStateError):
            handle.outcome()
        handle.cancel()
