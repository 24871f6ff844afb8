"""The scenario API and the ground truth the library is judged by."""

from __future__ import annotations

import asyncio
import math

import orjson
import pytest

from evs_job_watch.simulator import EvsSimulator, RequestRecord, Transition


async def wait_until(sim: EvsSimulator, job_id: str) -> None:
    await asyncio.sleep(max(0.0, sim.ended_at(job_id) - asyncio.get_running_loop().time()))


async def test_transitions_list_jobs_and_sub_jobs_in_time_order() -> None:
    sim = EvsSimulator(speed=1000.0)
    job_id = sim.add_job(
        sub_jobs=[
            [(0, "INIT"), (1, "RUNNING"), (5, "SUCCESS")],
            [(0, "INIT"), (2, "RUNNING"), (9, "FAIL")],
        ],
        fail=("EVS.2024", "disk 2 failed"),
    )
    first, second = sim.sub_job_ids(job_id)
    await wait_until(sim, job_id)
    found = sim.transitions
    assert [t.at for t in found] == sorted(t.at for t in found)
    assert all(isinstance(t, Transition) for t in found)
    by_job = {key: [t.status for t in found if t.job_id == key] for key in (job_id, first, second)}
    assert by_job == {
        job_id: ["INIT", "RUNNING", "FAIL"],
        first: ["INIT", "RUNNING", "SUCCESS"],
        second: ["INIT", "RUNNING", "FAIL"],
    }
    assert {t.parent_id for t in found if t.job_id != job_id} == {job_id}
    assert {t.parent_id for t in found if t.job_id == job_id} == {None}
    assert sim.statuses(job_id) == ["INIT", "RUNNING", "FAIL"]
    assert sim.outcome(job_id) == "FAIL"
    assert sim.outcome(first) == "SUCCESS"
    assert sim.ended_at(job_id) == sim.ended_at(second) > sim.ended_at(first)
    assert sim.job_ids == [job_id]


async def test_transitions_are_those_that_happened_by_now() -> None:
    sim = EvsSimulator()
    job_id = sim.add_job(timeline=[(0, "INIT"), (0.01, "RUNNING"), (1000, "SUCCESS")])
    await asyncio.sleep(0.02)
    assert [t.status for t in sim.transitions] == ["INIT", "RUNNING"]
    assert sim.statuses(job_id) == ["INIT", "RUNNING", "SUCCESS"]


async def test_any_status_text_is_served_and_a_job_may_never_end(
    evs_simulator: EvsSimulator, get_job
) -> None:
    job_id = evs_simulator.add_job(
        timeline=[(0, "WAITING_EXECUTE"), (0, "LISTENING"), (0, "MIGRATING"), (0, "LISTENING")]
    )
    job = orjson.loads((await get_job(evs_simulator, job_id))[2])
    assert job["status"] == "LISTENING"
    assert job["end_time"] == ""
    assert evs_simulator.outcome(job_id) == "LISTENING"
    assert evs_simulator.ended_at(job_id) == math.inf


async def test_a_scripted_batch_without_terminal_sub_jobs_keeps_running(
    evs_simulator: EvsSimulator,
) -> None:
    job_id = evs_simulator.add_job(sub_jobs=[[(0, "INIT"), (0, "RUNNING")]])
    assert evs_simulator.statuses(job_id) == ["INIT", "RUNNING"]
    failed_on_its_own = evs_simulator.add_job(
        sub_jobs=[[(0, "SUCCESS")]], timeline=[(0, "INIT"), (1, "FAIL")]
    )
    assert evs_simulator.outcome(failed_on_its_own) == "FAIL"


async def test_a_batch_whose_own_timeline_starts_later_is_not_found_until_then(
    evs_simulator: EvsSimulator, get_job
) -> None:
    job_id = evs_simulator.add_job(sub_jobs=[[(0, "INIT")]], timeline=[(1000, "INIT")])
    assert (await get_job(evs_simulator, job_id))[0] == 400
    assert (await get_job(evs_simulator, evs_simulator.sub_job_ids(job_id)[0]))[0] == 200


async def test_add_job_without_a_timeline_is_random_but_takes_fail_and_entities(
    evs_simulator: EvsSimulator, get_job
) -> None:
    sim = EvsSimulator(failure_rate=1.0, speed=1e6)
    async with sim:
        job_id = sim.add_job("batchCreateVolume", fail=("EVS.9999", "scripted"), entities={"k": 1})
        await wait_until(sim, job_id)
        job = orjson.loads((await get_job(sim, job_id))[2])
    assert job["entities"]["k"] == 1
    assert (job["error_code"], job["fail_reason"]) == ("EVS.9999", "scripted")
    assert {sub["error_code"] for sub in job["entities"]["sub_jobs"]} == {"EVS.9999"}
    assert evs_simulator.add_job("deleteVolume") in evs_simulator.job_ids


@pytest.mark.parametrize(
    "timeline",
    [[], [(-1, "INIT")], [(2, "INIT"), (1, "RUNNING")], [(0, "")]],
)
async def test_bad_timelines_are_refused(timeline: list[tuple[float, str]]) -> None:
    with pytest.raises(ValueError, match="timeline"):
        EvsSimulator().add_job(timeline=timeline)


async def test_create_job_types_and_unknown_ids() -> None:
    sim = EvsSimulator()
    extend = sim.create_job("extendVolume")
    assert sim.statuses(extend) == ["INIT", "RUNNING", "SUCCESS"]
    assert sim.sub_job_ids(sim.create_job("batchCreateVolume")) != []
    with pytest.raises(ValueError, match="count"):
        sim.create_job(count=0)
    with pytest.raises(KeyError, match="no such job"):
        sim.outcome("missing")


async def test_requests_are_recorded(evs_simulator: EvsSimulator, get_job) -> None:
    job_id = evs_simulator.create_job()
    await get_job(evs_simulator, job_id)
    await get_job(evs_simulator, job_id, headers={})
    first, second = evs_simulator.requests
    assert isinstance(first, RequestRecord)
    assert (first.method, first.job_id, first.status, first.fault) == ("GET", job_id, 200, None)
    assert first.path == f"/v1/{evs_simulator.project_id}/jobs/{job_id}"
    assert second.status == 401
    assert first.at <= second.at <= asyncio.get_running_loop().time()


async def test_keep_requests_bounds_the_record(get_job) -> None:
    async with EvsSimulator(keep_requests=2) as sim:
        for _ in range(4):
            await get_job(sim, "0" * 32)
        assert len(sim.requests) == 2


async def test_wall_time_maps_loop_time_with_a_fixed_offset() -> None:
    sim = EvsSimulator()
    loop = asyncio.get_running_loop()
    assert sim.wall_time(loop.time() + 10) - sim.wall_time(loop.time()) == pytest.approx(10, 0.01)
