"""Job lifecycles on the loop clock: decided at creation, rendered lazily."""

from __future__ import annotations

import asyncio
import math
import random
import statistics

import orjson
import pytest

from evs_job_watch.simulator import Duration, EvsSimulator
from evs_job_watch.simulator._jobs import (
    DEFAULT_DURATIONS,
    SimJob,
    batch_steps,
    format_time,
    random_steps,
)

WALL = 1_600_000_000.0


def make_job(**overrides: object) -> SimJob:
    options: dict[str, object] = {
        "job_id": "a" * 32,
        "job_type": "createVolume",
        "steps": [(10.0, "INIT"), (11.0, "RUNNING"), (13.0, "SUCCESS")],
        "entities": {"volume_id": "v"},
        "fail": ("EVS.2024", "boom"),
        "wall_offset": WALL,
        "visible_at": 10.0,
    }
    options.update(overrides)
    return SimJob(**options)  # type: ignore[arg-type]


def test_status_is_the_last_step_at_or_before_now() -> None:
    job = make_job()
    assert job.render(9.99) is None
    assert job.body_at(9.99) is None
    seen = {t: job.render(t)["status"] for t in (10.0, 10.99, 11.0, 12.99, 13.0, 1e9)}  # type: ignore[index]
    assert seen == {
        10.0: "INIT",
        10.99: "INIT",
        11.0: "RUNNING",
        12.99: "RUNNING",
        13.0: "SUCCESS",
        1e9: "SUCCESS",
    }
    ended = job.render(20.0)
    assert ended is not None
    assert ended["end_time"] == format_time(WALL + 13.0)
    assert ended["begin_time"] == format_time(WALL + 10.0)


def test_the_body_is_cached_per_state() -> None:
    job = make_job()
    assert job.body_at(11.1) is job.body_at(12.9)
    assert job.body_at(11.1) is not job.body_at(13.5)
    assert orjson.loads(job.body_at(13.5) or b"")["status"] == "SUCCESS"


def test_a_failed_job_shows_its_error_only_once_failed() -> None:
    job = make_job(steps=[(10.0, "INIT"), (12.0, "FAIL")])
    running, failed = job.render(11.0), job.render(12.0)
    assert running is not None and failed is not None
    assert (running["error_code"], running["fail_reason"]) == (None, None)
    assert (failed["error_code"], failed["fail_reason"]) == ("EVS.2024", "boom")
    assert job.outcome == "FAIL"
    assert job.ended_at == 12.0


def test_a_job_without_a_terminal_step_never_ends() -> None:
    job = make_job(steps=[(10.0, "INIT"), (11.0, "LISTENING")])
    assert job.ended_at == math.inf
    assert job.render(50.0)["end_time"] == ""  # type: ignore[index]


def test_repeated_statuses_collapse_and_empty_steps_are_refused() -> None:
    job = make_job(steps=[(10.0, "INIT"), (10.5, "INIT"), (11.0, "RUNNING")])
    assert [status for _, status in job.steps] == ["INIT", "RUNNING"]
    with pytest.raises(ValueError, match="at least one step"):
        make_job(steps=[])


def test_format_time_is_utc_milliseconds() -> None:
    assert format_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert format_time(1591583940.123) == "2020-06-08T02:39:00.123Z"
    assert format_time(1591583940.9996) == "2020-06-08T02:39:01.000Z"


def test_random_steps_are_init_running_end_scaled_by_speed() -> None:
    rng = random.Random(3)
    steps = random_steps(rng, Duration(10.0, 0.0, 10.0, 10.0), start=5.0, speed=10.0, fail=True)
    assert [status for _, status in steps] == ["INIT", "RUNNING", "FAIL"]
    assert steps[0][0] == 5.0
    assert 5.0 < steps[1][0] <= 5.0 + 0.3
    assert steps[2][0] == pytest.approx(6.0)


def test_default_durations_are_realistic() -> None:
    rng = random.Random(0)
    create = [DEFAULT_DURATIONS["createVolume"].draw(rng) for _ in range(2000)]
    assert 8 < statistics.median(create) < 12
    assert min(create) >= 3 and max(create) <= 180
    delete = [DEFAULT_DURATIONS["deleteVolume"].draw(rng) for _ in range(2000)]
    assert statistics.median(delete) < statistics.median(create)


def test_duration_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="median"):
        Duration(0.0)
    with pytest.raises(ValueError, match="minimum <= maximum"):
        Duration(5.0, 0.5, 10.0, 2.0)


def test_batch_parent_follows_its_sub_jobs() -> None:
    subs = [
        [(0.0, "INIT"), (1.0, "RUNNING"), (4.0, "SUCCESS")],
        [(0.0, "INIT"), (2.0, "RUNNING"), (6.0, "FAIL")],
    ]
    assert batch_steps(subs, start=0.0, settle=0.5) == [
        (0.0, "INIT"),
        (1.0, "RUNNING"),
        (6.5, "FAIL"),
    ]
    unfinished = [[(0.0, "INIT"), (1.0, "LISTENING")]]
    assert batch_steps(unfinished, start=0.0, settle=0.0) == [(0.0, "INIT"), (1.0, "RUNNING")]
    instant = [[(0.0, "SUCCESS")]]
    assert batch_steps(instant, start=0.0, settle=0.0) == [(0.0, "INIT"), (0.0, "SUCCESS")]


async def test_random_batches_end_after_their_last_sub_job_and_fail_if_one_failed() -> None:
    sim = EvsSimulator(seed=4, speed=10.0, failure_rate=0.3)
    outcomes = set()
    for _ in range(30):
        job_id = sim.create_job("createVolume", count=3)
        subs = sim.sub_job_ids(job_id)
        assert len(subs) == 3
        assert sim.ended_at(job_id) > max(sim.ended_at(sub) for sub in subs)
        any_failed = any(sim.outcome(sub) == "FAIL" for sub in subs)
        assert sim.outcome(job_id) == ("FAIL" if any_failed else "SUCCESS")
        outcomes.add(sim.outcome(job_id))
    assert outcomes == {"SUCCESS", "FAIL"}


async def test_failure_rate_one_fails_everything_with_a_reason(get_job) -> None:
    async with EvsSimulator(failure_rate=1.0, speed=1e6) as sim:
        job_id = sim.create_job("batchCreateVolume", count=2)
        await asyncio.sleep(max(0.0, sim.ended_at(job_id) - asyncio.get_running_loop().time()))
        job = orjson.loads((await get_job(sim, job_id))[2])
    assert job["status"] == "FAIL"
    assert job["error_code"] == "EVS.2024"
    assert "No valid host" in job["fail_reason"]
    assert {sub["status"] for sub in job["entities"]["sub_jobs"]} == {"FAIL"}


async def test_durations_override_with_fixed_seconds_scaled_by_speed() -> None:
    sim = EvsSimulator(speed=2.0, durations={"createVolume": 4.0, "deleteVolume": Duration(1.0)})
    job_id = sim.create_job()
    start = sim.transitions[0].at
    assert sim.ended_at(job_id) == pytest.approx(start + 2.0)
    assert sim.statuses(job_id) == ["INIT", "RUNNING", "SUCCESS"]


async def test_the_same_seed_makes_the_same_world() -> None:
    def world(seed: int) -> tuple[object, ...]:
        sim = EvsSimulator(seed=seed)
        ids = [sim.create_job(kind) for kind in ("createVolume", "extendVolume", "deleteVolume")]
        starts = {t.job_id: t.at for t in reversed(sim.transitions)}
        ends = [round(sim.ended_at(job_id) - starts[job_id], 6) for job_id in ids]
        return sim.project_id, sim.token, sim.access_key, sim.secret_key, ids, ends

    assert world(5) == world(5)
    assert world(5) != world(6)


async def test_http_answers_follow_the_timeline_on_the_loop_clock(get_job) -> None:
    async with EvsSimulator(speed=1.0) as sim:
        job_id = sim.add_job(timeline=[(0, "INIT"), (0.15, "RUNNING"), (0.3, "SUCCESS")])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        seen = []
        while not seen or seen[-1] != "SUCCESS":
            assert loop.time() < deadline
            seen.append(orjson.loads((await get_job(sim, job_id))[2])["status"])
            await asyncio.sleep(0.02)
        truth = [(t.at, t.status) for t in sim.transitions if t.job_id == job_id]
        for record, status in zip(sim.requests, seen, strict=True):
            assert status == [s for at, s in truth if at <= record.at][-1]
    order = ["INIT", "RUNNING", "SUCCESS"]
    assert [order.index(status) for status in seen] == sorted(order.index(s) for s in seen)


async def test_a_new_job_is_invisible_for_a_while(get_job) -> None:
    async with EvsSimulator(speed=2.0, invisible_for=0.5) as sim:
        job_id = sim.create_job()
        created = sim.transitions[0].at
        status, _, body = await get_job(sim, job_id)
        expected = 400 if sim.requests[-1].at < created + 0.25 else 200
        assert status == expected
        if status == 400:
            assert orjson.loads(body)["error"]["code"] == "Common.0011"
        await asyncio.sleep(max(0.0, created + 0.26 - asyncio.get_running_loop().time()))
        assert (await get_job(sim, job_id))[0] == 200


async def test_a_scripted_job_does_not_exist_before_its_first_step(get_job) -> None:
    async with EvsSimulator() as sim:
        job_id = sim.add_job(timeline=[(1000, "INIT")])
        assert (await get_job(sim, job_id))[0] == 400
