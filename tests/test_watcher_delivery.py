"""What the watcher delivers: outcomes, callbacks in order, events, fan-out, close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from evs_job_watch import (
    Job,
    JobEvent,
    JobFailedError,
    JobStatus,
    JobWatcher,
    PollPolicy,
    ServerError,
    ThrottledError,
    WatcherClosedError,
    WatchTimeoutError,
)

from .scripted import FAST, Recorder, ScriptedClient, make_job

pytestmark = pytest.mark.virtual_clock


def batch_client() -> ScriptedClient:
    client = ScriptedClient()
    client.timeline(
        "b",
        (0, make_job("b", "INIT", subs=[("s1", "INIT"), ("s2", "INIT")])),
        (5, make_job("b", "RUNNING", subs=[("s1", "RUNNING"), ("s2", "RUNNING")])),
        (10, make_job("b", "RUNNING", subs=[("s1", "SUCCESS"), ("s2", "RUNNING")])),
        (15, make_job("b", "FAIL", subs=[("s1", "SUCCESS"), ("s2", "FAIL")])),
    )
    return client


async def test_callbacks_fire_in_order_sub_jobs_first() -> None:
    recorder = Recorder()
    async with JobWatcher(batch_client(), policy=FAST, **recorder.callbacks()) as watcher:  # type: ignore[arg-type]
        with pytest.raises(JobFailedError) as caught:
            await watcher.wait("b")
    assert caught.value.job.status is JobStatus.FAIL
    assert recorder.calls == [
        ("change", "s1", "INIT", None, "b"),
        ("change", "s2", "INIT", None, "b"),
        ("change", "b", "INIT", None, None),
        ("change", "s1", "RUNNING", "INIT", "b"),
        ("change", "s2", "RUNNING", "INIT", "b"),
        ("change", "b", "RUNNING", "INIT", None),
        ("change", "s1", "SUCCESS", "RUNNING", "b"),
        ("complete", "s1", "SUCCESS", "RUNNING", "b"),
        ("change", "s2", "FAIL", "RUNNING", "b"),
        ("fail", "s2", "FAIL", "RUNNING", "b"),
        ("change", "b", "FAIL", "RUNNING", None),
        ("fail", "b", "FAIL", "RUNNING", None),
    ]


async def test_async_and_sync_callbacks_keep_the_order() -> None:
    order: list[str] = []

    async def slow_change(event: JobEvent) -> None:
        await asyncio.sleep(3)
        order.append(f"change {event.job_id} {event.status.value}")

    def complete(event: JobEvent) -> None:
        order.append(f"complete {event.job_id}")

    client = ScriptedClient()
    client.timeline(
        "b",
        (0, make_job("b", "RUNNING", subs=[("s1", "RUNNING")])),
        (2, make_job("b", "SUCCESS", subs=[("s1", "SUCCESS")])),
    )
    async with JobWatcher(
        client, policy=FAST, on_status_change=slow_change, on_complete=complete
    ) as watcher:
        await watcher.wait("b")
    assert order == [
        "change s1 RUNNING",
        "change b RUNNING",
        "change s1 SUCCESS",
        "complete s1",
        "change b SUCCESS",
        "complete b",
    ]


async def test_a_waiter_resolves_after_the_terminal_callbacks_returned() -> None:
    loop = asyncio.get_running_loop()
    finished_at: list[float] = []

    async def on_complete(event: JobEvent) -> None:
        await asyncio.sleep(5)
        finished_at.append(loop.time())

    client = ScriptedClient()
    client.script("j", make_job("j", "SUCCESS"))
    async with JobWatcher(client, on_complete=on_complete) as watcher:
        await watcher.wait("j")
        assert finished_at == [5.0]
        assert loop.time() == 5.0


async def test_a_slow_callback_delays_only_its_own_job() -> None:
    loop = asyncio.get_running_loop()

    async def on_complete(event: JobEvent) -> None:
        if event.job_id == "slow":
            await asyncio.sleep(1000)

    client = ScriptedClient()
    client.script("slow", make_job("slow", "SUCCESS"))
    client.timeline("quick", (0, make_job("quick", "RUNNING")), (3, make_job("quick", "SUCCESS")))
    async with JobWatcher(client, policy=FAST, on_complete=on_complete) as watcher:
        slow = watcher.watch("slow")
        await watcher.wait("quick")
        assert loop.time() == pytest.approx(3)
        assert not slow.done()
        await slow


async def test_a_raising_callback_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def broken(event: JobEvent) -> None:
        raise RuntimeError("callback bug")

    async def broken_async(event: JobEvent) -> None:
        raise RuntimeError("async callback bug")

    client = ScriptedClient()
    client.script("j", make_job("j", "SUCCESS"))
    with caplog.at_level(logging.ERROR, logger="evs_job_watch"):
        async with JobWatcher(
            client,
            on_status_change=broken,
            on_complete=broken_async,
            on_fail=lambda e: seen.append("fail"),
        ) as watcher:
            job = await watcher.wait("j")
            events = watcher.events()
            stream_job = await watcher.wait("j")
    assert job.status is JobStatus.SUCCESS and stream_job == job
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4 and all("raised" in m for m in messages)
    assert all(r.exc_info for r in caplog.records)
    assert seen == []
    assert events.dropped == 0


async def test_terminal_events_fire_once_even_if_the_api_wavers() -> None:
    recorder = Recorder()
    client = ScriptedClient()
    client.script(
        "b",
        make_job("b", "RUNNING", subs=[("s1", "SUCCESS")]),
        make_job("b", "RUNNING", subs=[("s1", "RUNNING")]),  # a stale read
        make_job("b", "RUNNING", subs=[("s1", "SUCCESS")]),
        make_job("b", "SUCCESS", subs=[("s1", "SUCCESS")]),
    )
    async with JobWatcher(client, policy=FAST, **recorder.callbacks()) as watcher:  # type: ignore[arg-type]
        await watcher.wait("b")
        await asyncio.sleep(10)
    completes = [call for call in recorder.calls if call[0] == "complete"]
    assert completes == [
        ("complete", "s1", "SUCCESS", None, "b"),
        ("complete", "b", "SUCCESS", "RUNNING", None),
    ]
    assert len(client.calls) == 4  # no poll after the end


async def test_unknown_status_is_not_terminal_and_keeps_polling() -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "PAUSED"), make_job("j", "PAUSED"), make_job("j", "SUCCESS"))
    statuses: list[str] = []
    async with JobWatcher(
        client, policy=FAST, on_status_change=lambda e: statuses.append(e.status.value)
    ) as watcher:
        await watcher.wait("j")
    assert statuses == ["PAUSED", "SUCCESS"]
    assert len(client.calls) == 3


async def test_handle_reports_latest_and_done() -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"), make_job("j", "SUCCESS"))
    async with JobWatcher(client, policy=FAST) as watcher:
        handle = watcher.watch("j")
        assert handle.job_id == "j" and handle.latest is None and not handle.done()
        await asyncio.sleep(0.5)
        assert handle.latest is not None and handle.latest.status is JobStatus.RUNNING
        job = await handle
        assert handle.done() and handle.latest == job
        assert "j" in repr(handle)


async def test_events_stream_sees_every_event_and_ends_on_close() -> None:
    async with JobWatcher(batch_client(), policy=FAST) as watcher:
        stream = watcher.events()
        with pytest.raises(JobFailedError):
            await watcher.wait("b")
    received = [(e.job_id, e.status.value, e.is_sub_job) async for e in stream]
    assert received[0] == ("s1", "INIT", True)
    assert received[-1] == ("b", "FAIL", False)
    assert len(received) == 9


async def test_a_slow_subscriber_loses_the_oldest_events_not_memory() -> None:
    async with JobWatcher(batch_client(), policy=FAST) as watcher:
        stream = watcher.events(max_pending=2)
        with pytest.raises(JobFailedError):
            await watcher.wait("b")
        stream.close()
    received = [(e.job_id, e.status.value) async for e in stream]
    assert received == [("s2", "FAIL"), ("b", "FAIL")]
    assert stream.dropped == 7


async def test_wait_all_returns_in_order_of_the_ids() -> None:
    client = ScriptedClient()
    client.timeline("late", (0, make_job("late", "RUNNING")), (9, make_job("late", "SUCCESS")))
    client.script("early", make_job("early", "SUCCESS"))
    async with JobWatcher(client, policy=FAST) as watcher:
        jobs = await watcher.wait_all(["late", "early", "late"])
        assert await watcher.wait_all([]) == []
    assert [job.job_id for job in jobs if isinstance(job, Job)] == ["late", "early", "late"]


async def test_wait_all_raises_the_first_error_and_releases_the_rest() -> None:
    client = ScriptedClient()
    client.script("ok", make_job("ok", "RUNNING"))
    client.script("bad", make_job("bad", "FAIL"))
    async with JobWatcher(client, policy=FAST) as watcher:
        with pytest.raises(JobFailedError):
            await watcher.wait_all(["ok", "bad"])
        await asyncio.sleep(0)
        assert watcher.watching() == frozenset()


async def test_wait_all_with_return_exceptions_and_one_overall_timeout() -> None:
    loop = asyncio.get_running_loop()
    client = ScriptedClient()
    client.script("ok", make_job("ok", "SUCCESS"))
    client.script("bad", make_job("bad", "FAIL"))
    client.script("slow", make_job("slow", "RUNNING"))
    async with JobWatcher(client, policy=FAST) as watcher:
        results = await watcher.wait_all(["ok", "bad", "slow"], timeout=7, return_exceptions=True)
        assert loop.time() == pytest.approx(7)
        with pytest.raises(WatchTimeoutError):
            await watcher.wait_all(["slow"], timeout=3)
    assert isinstance(results[0], Job)
    assert isinstance(results[1], JobFailedError)
    assert isinstance(results[2], WatchTimeoutError) and results[2].job_id == "slow"


async def test_invalid_ids_are_refused_before_any_request() -> None:
    client = ScriptedClient()
    client.script("ok", make_job("ok", "SUCCESS"))
    async with JobWatcher(client) as watcher:
        with pytest.raises(ValueError, match="invalid job id"):
            await watcher.wait_all(["ok", "../etc"])
        with pytest.raises(ValueError):
            watcher.watch("a b")
        with pytest.raises(ValueError):
            watcher.watch("ok", timeout=0)
        await asyncio.sleep(1)
    assert client.calls == []


async def test_a_bare_string_of_ids_is_refused_not_split_into_characters() -> None:
    client = ScriptedClient()
    async with JobWatcher(client) as watcher:
        with pytest.raises(TypeError, match="not a single string"):
            await watcher.wait_all("3f0c")
        with pytest.raises(TypeError, match="not a single string"):
            watcher.as_completed("3f0c")
        assert watcher.watching() == frozenset()
    assert client.calls == []


async def test_as_completed_yields_in_the_order_jobs_end() -> None:
    client = ScriptedClient()
    client.timeline("a", (0, make_job("a", "RUNNING")), (8, make_job("a", "SUCCESS")))
    client.timeline("b", (0, make_job("b", "RUNNING")), (3, make_job("b", "FAIL")))
    client.script("c", make_job("c", "SUCCESS"))
    async with JobWatcher(client, policy=FAST) as watcher:
        order = [
            (job.job_id, job.status.value) async for job in watcher.as_completed(["a", "b", "c"])
        ]
    assert order == [("c", "SUCCESS"), ("b", "FAIL"), ("a", "SUCCESS")]


async def test_as_completed_raises_a_watch_error_and_the_timeout() -> None:
    client = ScriptedClient()
    client.script("a", make_job("a", "SUCCESS"))
    client.script("e", ServerError("down", status=503, job_id="e"))
    client.script("s", make_job("s", "RUNNING"))
    policy = PollPolicy(interval=1, max_interval=1, max_consecutive_errors=2)
    async with JobWatcher(client, policy=policy) as watcher:
        seen: list[str] = []
        with pytest.raises(ServerError):
            async for job in watcher.as_completed(["a", "e"]):
                seen.append(job.job_id)
        assert seen == ["a"]
        with pytest.raises(WatchTimeoutError):
            async for job in watcher.as_completed(["s"], timeout=4):
                seen.append(job.job_id)
        assert seen == ["a"]
        await asyncio.sleep(0)
        assert watcher.watching() == frozenset()


async def test_close_ends_every_watch_and_leaves_no_task() -> None:
    client = ScriptedClient(latency=1)
    for job_id in ("a", "b"):
        client.script(job_id, make_job(job_id, "RUNNING"))
    errors: list[object] = []
    watcher = JobWatcher(client, policy=FAST, on_error=lambda j, e: errors.append(e))
    handles = [watcher.watch("a"), watcher.watch("b")]
    await asyncio.sleep(2.5)
    await watcher.aclose()
    await watcher.aclose()  # idempotent
    for handle in handles:
        with pytest.raises(WatcherClosedError):
            await handle
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert errors == []  # close is not an error of the watch
    with pytest.raises(WatcherClosedError):
        watcher.watch("a")
    polls = len(client.calls)
    await asyncio.sleep(50)
    assert len(client.calls) == polls


async def test_callbacks_may_call_back_into_the_watcher() -> None:
    client = ScriptedClient()
    client.script("first", make_job("first", "SUCCESS"))
    client.timeline(
        "second", (0, make_job("second", "RUNNING")), (4, make_job("second", "SUCCESS"))
    )
    results: list[str] = []

    async def on_complete(event: JobEvent) -> None:
        if event.job_id == "first":
            job = await watcher.wait("second")
            results.append(job.job_id)
            await watcher.aclose()

    watcher = JobWatcher(client, policy=FAST, on_complete=on_complete)
    handle = watcher.watch("first")
    with pytest.raises(WatcherClosedError):
        await handle  # the callback closed the watcher before the job's waiters resolved
    await asyncio.sleep(1)  # the callback's own task ends once the callback returns
    assert results == ["second"]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_foreign_exception_from_the_client_ends_only_that_watch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = ScriptedClient()
    client.script("odd", KeyError("surprise"))
    client.script("ok", make_job("ok", "SUCCESS"))
    async with JobWatcher(client) as watcher:
        results = await watcher.wait_all(["odd", "ok"], return_exceptions=True)
    assert isinstance(results[0], KeyError) and isinstance(results[1], Job)
    assert any("odd" in r.getMessage() for r in caplog.records)


async def test_close_during_a_terminal_callback_still_tells_the_waiter() -> None:
    started = asyncio.Event()

    async def on_complete(event: JobEvent) -> None:
        started.set()
        await asyncio.sleep(1000)

    client = ScriptedClient()
    client.script("j", make_job("j", "SUCCESS"))
    watcher = JobWatcher(client, on_complete=on_complete)
    handle = watcher.watch("j")
    await started.wait()
    await watcher.aclose()
    with pytest.raises(WatcherClosedError):
        await handle
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_stats_count_polls_errors_and_throttles() -> None:
    client = ScriptedClient()
    client.script(
        "j",
        ServerError("down", status=503, job_id="j"),
        ThrottledError("slow down", job_id="j", retry_after=1),
        make_job("j", "SUCCESS"),
    )
    async with JobWatcher(client, policy=FAST) as watcher:
        handle = watcher.watch("j")
        assert watcher.stats.watching == 1
        await handle
        stats = watcher.stats
    assert (stats.polls, stats.errors, stats.throttled, stats.watching) == (3, 2, 1, 0)
    assert stats.in_flight == 0


async def test_terminal_callbacks_see_their_job_no_longer_watched_sync_and_async_alike() -> None:
    # A callback that asks "is anything left?" gets one answer, plain function or coroutine.
    seen: dict[str, list[list[str]]] = {"sync": [], "async": []}

    def sync_fail(event: JobEvent) -> None:
        seen["sync"].append(sorted(watcher.watching()))

    async def async_complete(event: JobEvent) -> None:
        seen["async"].append(sorted(watcher.watching()))

    client = ScriptedClient()
    client.timeline("f", (0, make_job("f", "RUNNING")), (2, make_job("f", "FAIL")))
    client.timeline("s", (0, make_job("s", "RUNNING")), (4, make_job("s", "SUCCESS")))
    client.timeline("w", (0, make_job("w", "RUNNING")), (9, make_job("w", "SUCCESS")))
    async with JobWatcher(
        client, policy=FAST, on_fail=sync_fail, on_complete=async_complete
    ) as watcher:
        await watcher.wait_all(["f", "s", "w"], return_exceptions=True)
    assert seen == {"sync": [["s", "w"]], "async": [["w"], []]}


async def test_as_completed_left_early_stops_polling_the_rest_though_a_reference_is_kept() -> None:
    client = ScriptedClient()
    client.timeline("a", (0, make_job("a", "RUNNING")), (2, make_job("a", "SUCCESS")))
    client.script("b", make_job("b", "RUNNING"))
    async with JobWatcher(client, policy=FAST) as watcher:
        async with watcher.as_completed(["a", "b"]) as jobs:
            async for job in jobs:
                assert job.job_id == "a"
                break
        kept = jobs  # still referenced: leaving ``async with`` is what releases the rest
        assert watcher.watching() == frozenset()
        polled = len(client.polls("b"))
        await asyncio.sleep(10)
        assert len(client.polls("b")) == polled
        assert kept is jobs


async def test_as_completed_closed_before_its_first_job_releases_every_watch() -> None:
    client = ScriptedClient()
    client.script("b", make_job("b", "RUNNING"))
    async with JobWatcher(client, policy=FAST) as watcher:
        jobs = watcher.as_completed(["b"])
        assert watcher.watching() == {"b"}
        await jobs.aclose()  # never iterated: an async generator's aclose would not run
        assert watcher.watching() == frozenset()
        polled = len(client.polls("b"))
        await asyncio.sleep(10)
        assert len(client.polls("b")) == polled
