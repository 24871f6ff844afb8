"""When the watcher polls: intervals, jitter, concurrency, rate, backoff, grace, timeouts."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from evs_job_watch import (
    AuthenticationError,
    JobNotFoundError,
    JobWatcher,
    MalformedResponseError,
    PollPolicy,
    ServerError,
    ThrottledError,
    WatchTimeoutError,
)

from .scripted import ScriptedClient, make_job

pytestmark = pytest.mark.virtual_clock

STEADY = PollPolicy(interval=2, max_interval=15, multiplier=1.5, jitter=0)


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


async def test_first_poll_at_once_then_interval_grows_and_is_capped() -> None:
    client = ScriptedClient()
    client.timeline("j", (0, make_job("j", "RUNNING")), (100, make_job("j", "SUCCESS")))
    async with JobWatcher(client, policy=STEADY) as watcher:
        await watcher.wait("j")
    polls = client.polls("j")
    assert polls[0] == 0.0
    # First sight is a change, so the first delay is the interval; then x1.5, capped at 15.
    assert gaps(polls)[:7] == [2.0, 3.0, 4.5, 6.75, 10.125, 15.0, 15.0]


async def test_interval_returns_to_the_start_on_a_status_change() -> None:
    client = ScriptedClient()
    client.timeline(
        "j",
        (0, make_job("j", "INIT")),
        (20, make_job("j", "RUNNING")),
        (200, make_job("j", "SUCCESS")),
    )
    async with JobWatcher(client, policy=STEADY) as watcher:
        await watcher.wait("j")
    polls = client.polls("j")
    first_running = next(at for at in polls if at >= 20)
    after = [at for at in polls if at >= first_running]
    assert gaps(after)[:3] == [2.0, 3.0, 4.5]


async def test_a_sub_job_change_counts_as_a_change() -> None:
    client = ScriptedClient()
    client.timeline(
        "b",
        (0, make_job("b", "RUNNING", subs=[("s1", "RUNNING")])),
        (30, make_job("b", "RUNNING", subs=[("s1", "SUCCESS")])),
        (300, make_job("b", "SUCCESS", subs=[("s1", "SUCCESS")])),
    )
    async with JobWatcher(client, policy=STEADY) as watcher:
        await watcher.wait("b")
    polls = client.polls("b")
    seen_sub_end = next(at for at in polls if at >= 30)
    following = [at for at in polls if at >= seen_sub_end]
    assert gaps(following)[0] == 2.0


async def test_jitter_spreads_delays_within_the_fraction() -> None:
    client = ScriptedClient()
    for n in range(50):
        client.script(f"j{n}", make_job(f"j{n}", "RUNNING"))
    policy = PollPolicy(interval=10, max_interval=10, jitter=0.2)
    async with JobWatcher(client, policy=policy, rng=random.Random(1)) as watcher:
        handles = [watcher.watch(f"j{n}") for n in range(50)]
        await asyncio.sleep(100)
        delays = [g for n in range(50) for g in gaps(client.polls(f"j{n}"))]
        for handle in handles:
            handle.cancel()
    assert all(8.0 <= d <= 12.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > len(delays) // 2  # not in lockstep


async def test_a_seeded_generator_repeats_every_jittered_poll() -> None:
    async def poll_times(seed: int) -> list[list[float]]:
        client = ScriptedClient()
        for n in range(20):
            client.script(f"j{n}", make_job(f"j{n}", "RUNNING"))
        policy = PollPolicy(interval=2, max_interval=10, jitter=0.3)
        async with JobWatcher(client, policy=policy, rng=random.Random(seed)) as watcher:
            start = asyncio.get_running_loop().time()
            handles = [watcher.watch(f"j{n}") for n in range(20)]
            await asyncio.sleep(60)
            for handle in handles:
                handle.cancel()
        return [[round(at - start, 9) for at in client.polls(f"j{n}")] for n in range(20)]

    first = await poll_times(5)
    assert sum(map(len, first)) > 100
    assert await poll_times(5) == first
    assert await poll_times(6) != first


async def test_ten_waiters_share_one_poll_stream() -> None:
    shared, alone = ScriptedClient(), ScriptedClient()
    for client in (shared, alone):
        client.timeline("j", (0, make_job("j", "RUNNING")), (30, make_job("j", "SUCCESS")))
    async with JobWatcher(shared, policy=STEADY) as many, JobWatcher(alone, policy=STEADY) as one:
        jobs, _ = await asyncio.gather(
            asyncio.gather(*(many.wait("j") for _ in range(10))), one.wait("j")
        )
    assert shared.calls == alone.calls
    assert all(job.status.value == "SUCCESS" for job in jobs)


async def test_requests_in_flight_never_exceed_max_concurrency() -> None:
    client = ScriptedClient(latency=0.5)
    for n in range(200):
        client.timeline(
            f"j{n}", (0, make_job(f"j{n}", "RUNNING")), (20, make_job(f"j{n}", "SUCCESS"))
        )
    async with JobWatcher(client, policy=STEADY, max_concurrency=7) as watcher:
        await watcher.wait_all([f"j{n}" for n in range(200)])
    assert client.max_in_flight == 7


async def test_a_saturated_watcher_polls_in_due_order_and_starves_none() -> None:
    # 40 jobs due every second, one request at a time taking 0.1 s: four times more due
    # polls than can be sent. Each is sent in the order of its due time (the end of the
    # job's previous answer plus the 1 s decided after it; 0 for the first), so every
    # job takes its turn: none waits while one due later goes first.
    client = ScriptedClient(latency=0.1)
    ids = [f"j{n:02d}" for n in range(40)]
    for job_id in ids:
        client.script(job_id, make_job(job_id, "RUNNING"))
    policy = PollPolicy(interval=1, max_interval=1, jitter=0, latency=None)
    async with JobWatcher(client, policy=policy, max_concurrency=1) as watcher:
        handles = [watcher.watch(job_id) for job_id in ids]
        await asyncio.sleep(60)
        for handle in handles:
            handle.cancel()
    ended: dict[str, float] = {}
    dues = []
    for job_id, at in client.calls:
        dues.append(ended.get(job_id, -1.0) + 1.0)  # a first poll: due at 0
        ended[job_id] = at + 0.1
    assert dues == sorted(dues)
    assert len(client.calls) >= 590  # saturated: one request after the other
    counts = {job_id: len(client.polls(job_id)) for job_id in ids}
    assert max(counts.values()) - min(counts.values()) <= 1
    # In turn: each job once every 40 requests, 4 s apart.
    assert {round(gap, 6) for job_id in ids for gap in gaps(client.polls(job_id))} == {4.0}


async def test_a_sleeping_job_holds_no_slot() -> None:
    client = ScriptedClient()
    for n in range(20):
        client.script(f"j{n}", make_job(f"j{n}", "RUNNING"))
    async with JobWatcher(client, policy=STEADY, max_concurrency=1) as watcher:
        handles = [watcher.watch(f"j{n}") for n in range(20)]
        await asyncio.sleep(1)
        first_polls = {job_id for job_id, at in client.calls if at == 0.0}
        for handle in handles:
            handle.cancel()
    assert first_polls == {f"j{n}" for n in range(20)}


async def test_rate_limit_spaces_requests_evenly() -> None:
    client = ScriptedClient()
    for n in range(30):
        client.script(f"j{n}", make_job(f"j{n}", "SUCCESS"))
    async with JobWatcher(client, rate_limit=5) as watcher:
        await watcher.wait_all([f"j{n}" for n in range(30)])
    times = [at for _, at in client.calls]
    assert len(times) == 30
    assert min(gaps(times)) >= 0.2 - 1e-9
    for start in times:
        assert sum(1 for at in times if start <= at < start + 1.0) <= 5


async def test_transient_errors_back_off_exponentially_with_full_jitter() -> None:
    client = ScriptedClient()
    error = ServerError("boom", status=503, job_id="j")
    client.script("j", *([error] * 6), make_job("j", "SUCCESS"))
    policy = PollPolicy(interval=2, max_interval=15, max_consecutive_errors=10)
    async with JobWatcher(client, policy=policy) as watcher:
        await watcher.wait("j")
    caps = [2, 4, 8, 15, 15, 15]
    for delay, cap in zip(gaps(client.polls("j")), caps):
        assert 0 <= delay <= cap


async def test_the_error_budget_ends_the_watch_with_the_last_error() -> None:
    client = ScriptedClient()
    client.script("j", MalformedResponseError("junk", body=b"<html>", job_id="j"))
    errors: list[tuple[str, BaseException]] = []
    policy = PollPolicy(max_consecutive_errors=4)
    async with JobWatcher(client, policy=policy, on_error=lambda j, e: errors.append((j, e))) as w:
        with pytest.raises(MalformedResponseError):
            await w.wait("j")
    assert len(client.calls) == 4
    assert [job_id for job_id, _ in errors] == ["j"]


async def test_a_good_answer_resets_the_error_budget() -> None:
    client = ScriptedClient()
    error = ServerError("boom", status=500, job_id="j")
    running = make_job("j", "RUNNING")
    client.script("j", error, error, running, error, error, running, make_job("j", "SUCCESS"))
    policy = PollPolicy(max_consecutive_errors=3)
    async with JobWatcher(client, policy=policy) as watcher:
        job = await watcher.wait("j")
    assert job.status.value == "SUCCESS"


async def test_retry_after_is_honoured_and_pauses_every_job() -> None:
    loop = asyncio.get_running_loop()
    client = ScriptedClient()
    client.script(
        "a", ThrottledError("slow down", job_id="a", retry_after=30), make_job("a", "SUCCESS")
    )
    client.timeline("b", (0, make_job("b", "RUNNING")), (0.5, make_job("b", "SUCCESS")))
    async with JobWatcher(client, policy=STEADY, max_concurrency=1) as watcher:
        ha, hb = watcher.watch("a"), watcher.watch("b")
        await asyncio.sleep(0)
        await hb
        b_done = loop.time()
        await ha
    assert client.polls("a")[1] - client.polls("a")[0] >= 30
    # b was polled once before the 429 landed, then had to wait the pause out too.
    assert b_done >= 30


async def test_not_found_is_retried_for_the_grace_period() -> None:
    client = ScriptedClient()
    client.timeline("j", (12, make_job("j", "RUNNING")), (20, make_job("j", "SUCCESS")))
    policy = PollPolicy(interval=2, jitter=0, not_found_grace=30, max_consecutive_errors=2)
    async with JobWatcher(client, policy=policy) as watcher:
        job = await watcher.wait("j")
    assert job.status.value == "SUCCESS"
    assert len([at for at in client.polls("j") if at < 12]) == 6  # not counted as errors


async def test_a_job_never_seen_ends_with_not_found_after_the_grace() -> None:
    loop = asyncio.get_running_loop()
    client = ScriptedClient()
    client.timeline("j")
    policy = PollPolicy(interval=2, jitter=0, not_found_grace=30)
    async with JobWatcher(client, policy=policy) as watcher:
        with pytest.raises(JobNotFoundError):
            await watcher.wait("j")
    assert loop.time() == pytest.approx(30)


async def test_an_authentication_error_ends_the_watch_at_once() -> None:
    client = ScriptedClient()
    client.script("j", AuthenticationError("expired", status=401, job_id="j"))
    errors: list[BaseException] = []
    async with JobWatcher(client, on_error=lambda _, e: errors.append(e)) as watcher:
        with pytest.raises(AuthenticationError):
            await watcher.wait("j")
    assert len(client.calls) == 1
    assert isinstance(errors[0], AuthenticationError)


async def test_a_timeout_ends_the_watch_and_its_polling() -> None:
    loop = asyncio.get_running_loop()
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"))
    errors: list[BaseException] = []
    async with JobWatcher(client, policy=STEADY, on_error=lambda _, e: errors.append(e)) as w:
        with pytest.raises(WatchTimeoutError) as caught:
            await w.wait("j", timeout=10)
        assert loop.time() == pytest.approx(10)
        polls = len(client.calls)
        await asyncio.sleep(100)
        assert len(client.calls) == polls
        assert w.watching() == frozenset()
    assert isinstance(caught.value, TimeoutError)
    assert errors == [caught.value]


async def test_a_timeout_leaves_the_watch_to_the_other_handles() -> None:
    client = ScriptedClient()
    client.timeline("j", (0, make_job("j", "RUNNING")), (30, make_job("j", "SUCCESS")))
    async with JobWatcher(client, policy=STEADY) as watcher:
        short = watcher.watch("j", timeout=5)
        long = watcher.watch("j")
        with pytest.raises(WatchTimeoutError):
            await short
        job = await long
    assert job.status.value == "SUCCESS"


async def test_cancelling_the_last_handle_stops_polling() -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"))
    async with JobWatcher(client, policy=STEADY) as watcher:
        handle = watcher.watch("j")
        await asyncio.sleep(10)
        assert handle.cancel()
        assert not handle.cancel()
        await asyncio.sleep(0)
        polls = len(client.calls)
        await asyncio.sleep(100)
        assert len(client.calls) == polls
        assert watcher.watching() == frozenset()


async def test_cancelling_a_waiting_task_stops_polling() -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"))
    async with JobWatcher(client, policy=STEADY) as watcher:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(watcher.wait("j"), 10)
        polls = len(client.calls)
        await asyncio.sleep(100)
        assert len(client.calls) == polls
