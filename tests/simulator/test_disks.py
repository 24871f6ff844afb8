"""The simulator's disk API: statuses that follow the jobs, the listing by ids, the quirks."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest

from evs_job_watch.simulator import EvsSimulator, Faults, Quirks, RateLimit
from evs_job_watch.simulator._standalone import build_parser, simulator_from_args
from evs_job_watch.simulator._volumes import parse_ids


def _ids_query(ids: list[str]) -> str:
    return "[" + ",".join(f"'{one}'" for one in ids) + "]"


async def _listing(
    http: aiohttp.ClientSession, sim: EvsSimulator, ids: list[str]
) -> tuple[int, Any]:
    url = f"{sim.endpoint}/v2/{sim.project_id}/os-vendor-volumes/detail"
    params = {"ids": _ids_query(ids)}
    async with http.get(url, params=params, headers={"X-Auth-Token": sim.token}) as response:
        return response.status, orjson.loads(await response.read())


async def _one(http: aiohttp.ClientSession, sim: EvsSimulator, volume_id: str) -> tuple[int, Any]:
    url = f"{sim.endpoint}/v2/{sim.project_id}/os-vendor-volumes/{volume_id}"
    async with http.get(url, headers={"X-Auth-Token": sim.token}) as response:
        return response.status, orjson.loads(await response.read())


async def _sleep_until(loop_time: float) -> None:
    await asyncio.sleep(max(0.0, loop_time - asyncio.get_running_loop().time()) + 0.01)


def test_ids_are_read_with_or_without_quotes_and_brackets() -> None:
    assert parse_ids("['a','b']") == ["a", "b"]
    assert parse_ids('["a", "b"]') == ["a", "b"]
    assert parse_ids("a,b,") == ["a", "b"]
    assert parse_ids("[]") == []


async def test_a_created_disk_reads_creating_then_available(http: aiohttp.ClientSession) -> None:
    async with EvsSimulator(speed=50.0, durations={"createVolume": 10.0}) as sim:
        job_id = sim.create_job("createVolume")
        (volume_id,) = sim.disks_of(job_id)
        status, body = await _listing(http, sim, [volume_id, "not-a-disk"])
        assert status == 200
        assert body["count"] == 1
        (volume,) = body["volumes"]
        assert volume["id"] == volume_id
        assert volume["status"] == "creating"
        assert {"name", "size", "volume_type", "created_at", "attachments"} <= volume.keys()
        await _sleep_until(sim.ended_at(job_id))
        _, body = await _listing(http, sim, [volume_id])
        assert body["volumes"][0]["status"] == "available"


async def test_a_batch_names_every_disk_and_a_failed_job_leaves_an_error(
    http: aiohttp.ClientSession,
) -> None:
    async with EvsSimulator(speed=50.0, failure_rate=1.0) as sim:
        job_id = sim.create_job("batchCreateVolume", count=3)
        disks = sim.disks_of(job_id)
        assert len(disks) == 3
        await _sleep_until(sim.ended_at(job_id))
        _, body = await _listing(http, sim, disks)
        assert sorted(v["id"] for v in body["volumes"]) == sorted(disks)
        assert {v["status"] for v in body["volumes"]} == {"error"}


async def test_an_extend_reads_extending_then_the_new_size(http: aiohttp.ClientSession) -> None:
    async with EvsSimulator(speed=50.0) as sim:
        volume_id = sim.add_volume(size=10)
        job_id = sim.add_job(
            "extendVolume",
            timeline=[(0, "RUNNING"), (5, "SUCCESS")],
            entities={"volume_id": volume_id, "size": 40},
        )
        _, body = await _one(http, sim, volume_id)
        assert (body["volume"]["status"], body["volume"]["size"]) == ("extending", 10)
        await _sleep_until(sim.ended_at(job_id))
        _, body = await _one(http, sim, volume_id)
        assert (body["volume"]["status"], body["volume"]["size"]) == ("available", 40)


async def test_a_deleted_disk_is_gone_from_the_listing_and_404_alone(
    http: aiohttp.ClientSession,
) -> None:
    async with EvsSimulator(speed=50.0) as sim:
        volume_id = sim.add_volume()
        job_id = sim.add_job(
            "deleteVolume",
            timeline=[(0, "RUNNING"), (5, "SUCCESS")],
            entities={"volume_id": volume_id},
        )
        _, body = await _one(http, sim, volume_id)
        assert body["volume"]["status"] == "deleting"
        await _sleep_until(sim.ended_at(job_id))
        status, body = await _one(http, sim, volume_id)
        assert status == 404
        assert "itemNotFound" in body
        _, listed = await _listing(http, sim, [volume_id])
        assert listed == {"volumes": [], "count": 0}


async def test_an_attach_job_leaves_the_disk_in_use_by_its_server(
    http: aiohttp.ClientSession,
) -> None:
    async with EvsSimulator(speed=50.0) as sim:
        volume_id = sim.add_volume()
        job_id = sim.add_job(
            "attachVolume",
            timeline=[(0, "RUNNING"), (5, "SUCCESS")],
            entities={"volume_id": volume_id, "server_id": "server-1"},
        )
        _, body = await _one(http, sim, volume_id)
        assert body["volume"]["status"] == "attaching"
        await _sleep_until(sim.ended_at(job_id))
        _, body = await _one(http, sim, volume_id)
        assert body["volume"]["status"] == "in-use"
        assert [a["server_id"] for a in body["volume"]["attachments"]] == ["server-1"]


async def test_more_than_sixty_ids_are_refused(http: aiohttp.ClientSession) -> None:
    async with EvsSimulator() as sim:
        status, body = await _listing(http, sim, [f"id{n}" for n in range(61)])
        assert status == 400
        assert "badRequest" in body
        status, _ = await _listing(http, sim, [f"id{n}" for n in range(60)])
        assert status == 200


async def test_the_listing_asks_for_the_same_credentials(http: aiohttp.ClientSession) -> None:
    async with EvsSimulator() as sim:
        url = f"{sim.endpoint}/v2/{sim.project_id}/os-vendor-volumes/detail"
        async with http.get(url, headers={"X-Auth-Token": "wrong"}) as response:
            assert response.status in (400, 401)
        other = f"{sim.endpoint}/v2/{'0' * 32}/os-vendor-volumes/detail"
        async with http.get(other, headers={"X-Auth-Token": sim.token}) as response:
            assert response.status == 400
            assert b"Common.0018" in await response.read()


async def test_the_listing_shares_the_account_rate_limit_and_the_faults(
    http: aiohttp.ClientSession,
) -> None:
    async with EvsSimulator(rate_limit=RateLimit(1, burst=1)) as sim:
        statuses = [(await _listing(http, sim, ["x"]))[0] for _ in range(3)]
        assert 429 in statuses
    async with EvsSimulator(faults=Faults(server_error=1.0)) as sim:
        status, _ = await _listing(http, sim, ["x"])
        assert status >= 500
        assert sim.requests[-1].fault == "server_error"


async def test_a_disk_may_turn_usable_some_time_after_its_job(http: aiohttp.ClientSession) -> None:
    quirks = Quirks(volume_lag=25.0)
    async with EvsSimulator(speed=50.0, quirks=quirks, durations={"createVolume": 5.0}) as sim:
        job_id = sim.create_job("createVolume")
        (volume_id,) = sim.disks_of(job_id)
        assert sim.disks.usable_at(volume_id) == pytest.approx(sim.ended_at(job_id) + 25.0 / 50)
        await _sleep_until(sim.ended_at(job_id))
        _, body = await _one(http, sim, volume_id)
        assert body["volume"]["status"] == "creating"  # the job is done, the disk is not
        await _sleep_until(sim.disks.usable_at(volume_id))
        _, body = await _one(http, sim, volume_id)
        assert body["volume"]["status"] == "available"


async def test_an_early_success_is_read_once_then_running_again(
    http: aiohttp.ClientSession,
) -> None:
    async with EvsSimulator(speed=50.0, quirks=Quirks(early_success=40.0)) as sim:
        job_id = sim.add_job("createVolume", timeline=[(0, "RUNNING"), (60, "SUCCESS")])
        url = f"{sim.endpoint}/v1/{sim.project_id}/jobs/{job_id}"

        async def status() -> str:
            async with http.get(url, headers={"X-Auth-Token": sim.token}) as response:
                return str(orjson.loads(await response.read())["status"])

        assert await status() == "RUNNING"
        await _sleep_until(sim.ended_at(job_id) - 30.0 / 50)  # inside the 40 s
        assert [await status(), await status()] == ["SUCCESS", "RUNNING"]
        await _sleep_until(sim.ended_at(job_id))
        assert await status() == "SUCCESS"


def test_the_quirks_are_options_of_the_standalone_simulator() -> None:
    args = build_parser().parse_args(["--volume-lag", "3", "--early-success", "2"])
    assert simulator_from_args(args).disks.quirks == Quirks(volume_lag=3.0, early_success=2.0)
    with pytest.raises(ValueError, match="volume_lag"):
        Quirks(volume_lag=-1.0)
