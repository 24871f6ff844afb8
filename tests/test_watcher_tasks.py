"""One task group owns every background task of a watcher, its store's included: the
workers, the couriers, the claim loop, the state file's writer, a Redis store's listener
and batch flusher. A watcher closed mid-run leaves none of them behind, whatever its
store's close did, and a task that loses its cancellation is cancelled again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis import exceptions

from evs_job_watch import JobEvent, JobWatcher, LocalStore, PollPolicy
from evs_job_watch._core import _snapshot
from evs_job_watch.redis import RedisServer, RedisStore

from .scripted import ScriptedClient, make_job

GUARD = 30.0  # seconds: the most a close may take before the test calls it a hang
QUICK = PollPolicy(interval=0.05, max_interval=0.05, jitter=0)


def running(before: set[asyncio.Task[Any]]) -> set[str]:
    """What the tasks started since ``before`` run (the test's own aside), by name."""
    me = asyncio.current_task()
    return {
        task.get_coro().__qualname__  # type: ignore[union-attr]
        for task in asyncio.all_tasks() - before
        if task is not me and not task.done()
    }


async def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
def slow_writes(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every state file write takes 50 ms, so that one is under way when the watcher closes."""
    real, starts = _snapshot.write_atomic, []  # when each write began

    def slow(path: Path, data: bytes) -> None:
        starts.append(time.monotonic())
        time.sleep(0.05)
        real(path, data)

    monkeypatch.setattr(_snapshot, "write_atomic", slow)
    return starts


def busy_client(jobs: int) -> ScriptedClient:
    """Jobs that change status at every poll, with requests that take a while."""
    client = ScriptedClient(latency=0.02)
    for n in range(jobs):
        client.script(f"job-{n}", *(make_job(f"job-{n}", s) for s in ["INIT", "RUNNING"] * 50))
    return client


async def test_a_watcher_closed_mid_run_leaves_no_task_behind(
    tmp_path: Path, slow_writes: list[float]
) -> None:
    before = asyncio.all_tasks()
    seen: list[str] = []

    async def slow_callback(event: JobEvent) -> None:
        seen.append(event.job_id)
        await asyncio.sleep(0.02)  # a courier is under way at the close

    watcher = JobWatcher(
        busy_client(20),
        policy=QUICK,
        state_path=tmp_path / "state.json",
        on_status_change=slow_callback,
    )
    async with watcher:
        for n in range(20):
            watcher.watch(f"job-{n}")
        await until(lambda: len(seen) >= 40 and slow_writes, "polls, callbacks and writes")
        # The close must find a worker, a courier and a write under way at once.
        parts = {"Poller._work", "Outbox._carry", "StateFile._write"}
        await until(lambda: parts <= running(before), "a poll, a courier and a write at once")
    assert running(before) == set()
    assert (tmp_path / "state.json").exists()


async def test_a_store_whose_close_fails_leaves_no_task_behind(
    tmp_path: Path, slow_writes: list[float]
) -> None:
    class Failing(LocalStore):
        async def close(self, owned: Any) -> None:
            raise OSError("the disk went away")

    before = asyncio.all_tasks()
    watcher = JobWatcher(busy_client(5), policy=QUICK, store=Failing(tmp_path / "state.json"))
    with pytest.raises(OSError, match="the disk went away"):
        async with watcher:
            for n in range(5):
                watcher.watch(f"job-{n}")
            await until(lambda: "StateFile._write" in running(before), "a write under way")
    assert running(before) == set()


async def test_a_watcher_on_redis_closed_mid_run_leaves_no_task_behind(
    redis_server: RedisServer, namespace: str
) -> None:
    before = asyncio.all_tasks()
    client = busy_client(10)
    store = RedisStore(redis_server.url, namespace=namespace, lease=1.0, replica="only")
    async with JobWatcher(client, policy=QUICK, store=store) as watcher:
        for n in range(10):
            watcher.watch(f"job-{n}")
        await until(lambda: len(client.calls) >= 30, "polls of claimed watches")
        await until(lambda: "Batches._flush" in running(before), "a batch under way")
        under_way = running(before)
        expected = {"Poller._work", "FleetSide._claim_loop", "Listener._listen", "Batches._flush"}
        assert expected <= under_way, under_way
        closing = asyncio.ensure_future(watcher.aclose())
        await asyncio.wait_for(closing, GUARD)
    assert running(before) == set()


async def test_a_listener_that_loses_its_cancellation_is_cancelled_again(
    redis_server: RedisServer, namespace: str
) -> None:
    """redis-py's socket timeout can turn a cancellation into its own TimeoutError, which
    the listener takes for a fault and reads again: it must be cancelled again."""
    redis = aioredis.Redis.from_url(redis_server.url)
    real, lost = redis.xread, []
    loop = asyncio.get_running_loop()
    reading: list[float] = []  # when the read under way began (none between reads)

    async def xread(*args: Any, **kwargs: Any) -> Any:
        reading.append(loop.time())
        try:
            return await real(*args, **kwargs)
        except asyncio.CancelledError:
            if lost:
                raise
            lost.append(1)
            raise exceptions.TimeoutError("Timeout reading from socket") from None
        finally:
            reading.clear()

    redis.xread = xread  # type: ignore[method-assign]
    before = asyncio.all_tasks()
    try:
        store = RedisStore(redis, namespace=namespace, lease=1.0, replica="only")
        watcher = JobWatcher(busy_client(3), policy=QUICK, store=store)
        async with watcher:
            for n in range(3):
                watcher.watch(f"job-{n}")
            # The listener waits in a blocking read (not between reads, after news).
            await until(lambda: bool(reading) and loop.time() - reading[0] > 0.1, "a read")
            await asyncio.wait_for(watcher.aclose(), GUARD)
        assert lost == [1]
        assert running(before) == set()
    finally:
        await redis.aclose()
