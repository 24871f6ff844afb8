"""Response shapes of the job query for each job type, the batch included."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import orjson
import pytest

from evs_job_watch.simulator import EvsSimulator

KEYS = [
    "status",
    "entities",
    "job_id",
    "job_type",
    "begin_time",
    "end_time",
    "error_code",
    "fail_reason",
]
HEX32 = re.compile(r"[0-9a-f]{32}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CREATE_ENTITIES = {"volume_type", "size", "volume_id", "name"}


@pytest.mark.parametrize(
    ("job_type", "entity_keys"),
    [
        ("createVolume", CREATE_ENTITIES),
        ("extendVolume", {"volume_id", "size"}),
        ("deleteVolume", {"volume_id"}),
        ("retypeVolume", {"volume_id"}),
    ],
)
async def test_a_running_job_has_the_documented_keys(
    evs_simulator: EvsSimulator, get_job, job_type: str, entity_keys: set[str]
) -> None:
    job_id = evs_simulator.add_job(job_type, timeline=[(0, "INIT"), (1000, "SUCCESS")])
    status, headers, body = await get_job(evs_simulator, job_id)
    job = orjson.loads(body)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert list(job) == KEYS
    assert set(job["entities"]) == entity_keys
    assert HEX32.fullmatch(job_id)
    assert (job["job_id"], job["job_type"], job["status"]) == (job_id, job_type, "INIT")
    assert TIME.fullmatch(job["begin_time"])
    assert (job["end_time"], job["error_code"], job["fail_reason"]) == ("", None, None)


async def test_begin_time_is_utc_wall_time(evs_simulator: EvsSimulator, get_job) -> None:
    job_id = evs_simulator.create_job()
    job = orjson.loads((await get_job(evs_simulator, job_id))[2])
    begin = datetime.strptime(job["begin_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(begin.replace(tzinfo=timezone.utc).timestamp() - time.time()) < 60


async def test_a_batch_job_lists_full_create_volume_sub_jobs(
    evs_simulator: EvsSimulator, get_job
) -> None:
    job_id = evs_simulator.create_job("createVolume", count=3)
    job = orjson.loads((await get_job(evs_simulator, job_id))[2])
    assert job["job_type"] == "batchCreateVolume"
    assert list(job["entities"]) == ["sub_jobs"]
    subs = job["entities"]["sub_jobs"]
    assert [sub["job_id"] for sub in subs] == evs_simulator.sub_job_ids(job_id)
    for sub in subs:
        assert list(sub) == KEYS
        assert sub["job_type"] == "createVolume"
        assert set(sub["entities"]) == CREATE_ENTITIES
        assert HEX32.fullmatch(sub["job_id"])
    assert len({sub["entities"]["volume_id"] for sub in subs}) == 3


async def test_a_sub_job_can_be_queried_on_its_own(evs_simulator: EvsSimulator, get_job) -> None:
    job_id = evs_simulator.create_job("batchCreateVolume", count=2)
    sub_id = evs_simulator.sub_job_ids(job_id)[1]
    status, _, body = await get_job(evs_simulator, sub_id)
    assert status == 200
    assert orjson.loads(body)["job_id"] == sub_id


async def test_an_ended_job_has_end_time_and_a_failed_one_its_error(
    evs_simulator: EvsSimulator, get_job
) -> None:
    done = evs_simulator.add_job(timeline=[(0, "INIT"), (0, "RUNNING"), (0, "SUCCESS")])
    failed = evs_simulator.add_job(
        "extendVolume", timeline=[(0, "FAIL")], fail=("EVS.2024", "no capacity")
    )
    ok = orjson.loads((await get_job(evs_simulator, done))[2])
    bad = orjson.loads((await get_job(evs_simulator, failed))[2])
    assert ok["status"] == "SUCCESS"
    assert TIME.fullmatch(ok["end_time"])
    assert (ok["error_code"], ok["fail_reason"]) == (None, None)
    assert bad["status"] == "FAIL"
    assert TIME.fullmatch(bad["end_time"])
    assert (bad["error_code"], bad["fail_reason"]) == ("EVS.2024", "no capacity")


async def test_an_unknown_job_is_400_common_0011(evs_simulator: EvsSimulator, get_job) -> None:
    status, _, body = await get_job(evs_simulator, "0" * 32)
    assert status == 400
    assert orjson.loads(body) == {"error": {"message": "query job fail.", "code": "Common.0011"}}


async def test_extra_entities_are_served(evs_simulator: EvsSimulator, get_job) -> None:
    job_id = evs_simulator.add_job(timeline=[(0, "INIT")], entities={"future_key": [1, 2]})
    job = orjson.loads((await get_job(evs_simulator, job_id))[2])
    assert job["entities"]["future_key"] == [1, 2]
    assert set(job["entities"]) == {*CREATE_ENTITIES, "future_key"}
