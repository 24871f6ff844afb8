"""The job-creating calls: create (single and batch), extend, delete."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from evs_job_watch.simulator import EvsSimulator


async def call(
    sim: EvsSimulator, http: aiohttp.ClientSession, method: str, suffix: str, body: Any = None
) -> tuple[int, Any]:
    url = f"{sim.endpoint}/v2/{sim.project_id}/cloudvolumes{suffix}"
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"X-Auth-Token": sim.token, "Content-Type": "application/json"}
    async with http.request(method, url, data=data, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


async def test_create_makes_a_create_volume_job_and_a_disk(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, get_job
) -> None:
    volume = {"size": 40, "volume_type": "SSD", "name": "data", "availability_zone": "eu-de-01"}
    status, answer = await call(evs_simulator, http, "POST", "", {"volume": volume})
    assert status == 202
    assert list(answer) == ["job_id"]
    job = orjson.loads((await get_job(evs_simulator, answer["job_id"]))[2])
    assert job["job_type"] == "createVolume"
    entities = job["entities"]
    assert (entities["size"], entities["volume_type"], entities["name"]) == (40, "SSD", "data")
    assert evs_simulator.volumes[entities["volume_id"]].size == 40
    assert evs_simulator.requests[-2].job_id == answer["job_id"]


async def test_create_with_count_makes_a_batch(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, get_job
) -> None:
    body = {"volume": {"size": 10, "volume_type": "SAS", "name": "disk", "count": 3}}
    status, answer = await call(evs_simulator, http, "POST", "", body)
    job = orjson.loads((await get_job(evs_simulator, answer["job_id"]))[2])
    assert status == 202
    assert job["job_type"] == "batchCreateVolume"
    names = [sub["entities"]["name"] for sub in job["entities"]["sub_jobs"]]
    assert names == ["disk-0001", "disk-0002", "disk-0003"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        {},
        {"volume": []},
        {"volume": {"size": "10", "volume_type": "SSD"}},
        {"volume": {"size": 5, "volume_type": "SSD"}},
        {"volume": {"size": True, "volume_type": "SSD"}},
        {"volume": {"size": 10}},
        {"volume": {"size": 10, "volume_type": "SSD", "name": 3}},
        {"volume": {"size": 10, "volume_type": "SSD", "count": 0}},
    ],
)
async def test_a_bad_create_body_is_400_bad_request(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, body: Any
) -> None:
    status, answer = await call(evs_simulator, http, "POST", "", body)
    assert status == 400
    assert answer["badRequest"]["code"] == 400
    assert answer["badRequest"]["message"]


async def test_extend_makes_an_extend_volume_job(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, get_job
) -> None:
    volume_id = evs_simulator.add_volume(size=10)
    body = {"os-extend": {"new_size": 20}}
    status, answer = await call(evs_simulator, http, "POST", f"/{volume_id}/action", body)
    job = orjson.loads((await get_job(evs_simulator, answer["job_id"]))[2])
    assert status == 202
    assert job["job_type"] == "extendVolume"
    assert job["entities"] == {"volume_id": volume_id, "size": 20}
    assert evs_simulator.volumes[volume_id].size == 20
    again = await call(evs_simulator, http, "POST", f"/{volume_id}/action", body)
    assert again[0] == 400  # not larger than the current size
    bad = await call(evs_simulator, http, "POST", f"/{volume_id}/action", {"os-extend": 1})
    assert bad[0] == 400


async def test_delete_makes_a_delete_volume_job_once(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, get_job
) -> None:
    volume_id = evs_simulator.add_volume()
    status, answer = await call(evs_simulator, http, "DELETE", f"/{volume_id}")
    job = orjson.loads((await get_job(evs_simulator, answer["job_id"]))[2])
    assert status == 200
    assert (job["job_type"], job["entities"]) == ("deleteVolume", {"volume_id": volume_id})
    assert (await call(evs_simulator, http, "DELETE", f"/{volume_id}"))[0] == 404


@pytest.mark.parametrize(("method", "suffix"), [("POST", "/action"), ("DELETE", "")])
async def test_an_unknown_volume_is_404_item_not_found(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, method: str, suffix: str
) -> None:
    body = {"os-extend": {"new_size": 20}}
    status, answer = await call(evs_simulator, http, method, f"/nope{suffix}", body)
    assert status == 404
    assert answer["itemNotFound"]["code"] == 404
    assert evs_simulator.requests[-1].job_id is None
