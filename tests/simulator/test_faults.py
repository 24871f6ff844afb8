"""Random faults and scripted replies on the job query, seen at the HTTP level."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from evs_job_watch.simulator import EvsSimulator, Faults, Reply

from .conftest import job_url

THROTTLE_MSG = "The throttling threshold has been reached: policy user over ratelimit,limit:"


@pytest.fixture
def evs_simulator_options() -> dict[str, object]:
    return {"speed": 1.0}


@pytest.fixture
def job_id(evs_simulator: EvsSimulator) -> str:
    return evs_simulator.add_job(timeline=[(0, "INIT"), (0, "RUNNING")])


async def test_faults_validate_their_values() -> None:
    assert not Faults().active
    assert Faults(latency=(0, 0)).active
    assert Faults(drop=0.1).active
    with pytest.raises(ValueError, match="probability"):
        Faults(server_error=1.5)
    with pytest.raises(ValueError, match="add up"):
        Faults(server_error=0.6, throttle=0.6)
    with pytest.raises(ValueError, match="latency"):
        Faults(latency=(2.0, 1.0))
    with pytest.raises(ValueError, match="retry_after"):
        Faults(retry_after=-1)


async def test_server_errors_carry_realistic_bodies(
    evs_simulator: EvsSimulator, get_job, job_id: str
) -> None:
    evs_simulator.faults = Faults(server_error=1.0)
    seen = set()
    for _ in range(24):
        status, _, body = await get_job(evs_simulator, job_id)
        error = orjson.loads(body)
        if status in (500, 503):
            assert error["error"]["code"] == f"EVS.5{status % 1000:03d}"
        else:
            assert status in (502, 504)
            assert set(error) == {"error_msg", "error_code", "request_id"}
        seen.add(status)
    assert len(seen) >= 3
    assert {r.fault for r in evs_simulator.requests} == {"server_error"}


@pytest.mark.parametrize(("share", "header"), [(1.0, "3"), (0.0, None)])
async def test_throttling_is_429_apig_0308_with_or_without_retry_after(
    evs_simulator: EvsSimulator, get_job, job_id: str, share: float, header: str | None
) -> None:
    evs_simulator.faults = Faults(throttle=1.0, retry_after_share=share, retry_after=3)
    status, headers, body = await get_job(evs_simulator, job_id)
    error = orjson.loads(body)
    assert status == 429
    assert error["error_code"] == "APIG.0308"
    assert error["error_msg"].startswith(THROTTLE_MSG)
    assert headers.get("Retry-After") == header


async def test_retry_after_comes_on_a_share_of_429s(
    evs_simulator: EvsSimulator, get_job, job_id: str
) -> None:
    evs_simulator.faults = Faults(throttle=1.0, retry_after=0.25)
    values = {(await get_job(evs_simulator, job_id))[1].get("Retry-After") for _ in range(20)}
    assert values == {"0.25", None}


async def test_latency_delays_the_answer(evs_simulator: EvsSimulator, get_job, job_id: str) -> None:
    evs_simulator.faults = Faults(latency=(0.05, 0.05))
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert (await get_job(evs_simulator, job_id))[0] == 200
    assert loop.time() - start >= 0.049
    assert evs_simulator.requests[-1].fault == "latency"


async def test_a_truncated_body_is_half_of_a_valid_one(
    evs_simulator: EvsSimulator, get_job, job_id: str
) -> None:
    evs_simulator.faults = Faults(truncated=1.0)
    status, _, cut = await get_job(evs_simulator, job_id)
    evs_simulator.faults = Faults()
    whole = (await get_job(evs_simulator, job_id))[2]
    assert status == 200
    assert cut == whole[: len(whole) // 2]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(cut)


async def test_non_json_is_an_html_page(evs_simulator: EvsSimulator, get_job, job_id: str) -> None:
    evs_simulator.faults = Faults(non_json=1.0)
    statuses = set()
    for _ in range(12):
        status, headers, body = await get_job(evs_simulator, job_id)
        assert headers["Content-Type"].startswith("text/html")
        assert body.startswith(b"<")
        statuses.add(status)
    assert statuses == {200, 502}


async def test_a_dropped_connection_gets_no_answer(
    evs_simulator: EvsSimulator, get_job, job_id: str
) -> None:
    evs_simulator.faults = Faults(drop=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get_job(evs_simulator, job_id)
    assert {(r.status, r.fault) for r in evs_simulator.requests} == {(0, "drop")}


async def test_faults_touch_only_the_job_query(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    evs_simulator.faults = Faults(server_error=1.0)
    url = f"{evs_simulator.endpoint}/v2/{evs_simulator.project_id}/cloudvolumes"
    body = {"volume": {"size": 10, "volume_type": "SSD"}}
    async with http.post(url, json=body, headers={"X-Auth-Token": evs_simulator.token}) as r:
        assert r.status == 202


async def test_injected_replies_come_first_then_normal_answers(
    evs_simulator: EvsSimulator, get_job, job_id: str
) -> None:
    evs_simulator.faults = Faults(server_error=1.0)  # scripted replies skip random faults
    evs_simulator.inject(
        job_id,
        Reply(429, headers={"Retry-After": "3"}),
        503,
        Reply(body={"error": {"message": "x", "code": "EVS.0001"}}),
        Reply(status=418, body="teapot", content_type="text/plain"),
        Reply(delay=0.01),
    )
    answers = [await get_job(evs_simulator, job_id) for _ in range(5)]
    assert [status for status, _, _ in answers] == [429, 503, 200, 418, 200]
    assert answers[0][1]["Retry-After"] == "3"
    assert orjson.loads(answers[0][2])["error_code"] == "APIG.0308"
    assert orjson.loads(answers[1][2])["error"]["code"] == "EVS.5503"
    assert orjson.loads(answers[2][2])["error"]["code"] == "EVS.0001"
    assert answers[3][2] == b"teapot"
    assert orjson.loads(answers[4][2])["job_id"] == job_id
    assert (await get_job(evs_simulator, job_id))[0] >= 500
    assert [r.fault for r in evs_simulator.requests][:5] == ["injected"] * 5


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "Common.0011"), (401, "APIG.1002"), (403, "EVS.0003"), (404, "EVS.5404")],
)
async def test_a_bare_injected_status_gets_its_usual_body(
    evs_simulator: EvsSimulator, get_job, job_id: str, status: int, code: str
) -> None:
    evs_simulator.inject(job_id, status)
    got, _, body = await get_job(evs_simulator, job_id)
    error = orjson.loads(body)
    assert got == status
    assert (error.get("error") or {}).get("code", error.get("error_code")) == code


async def test_an_unusual_injected_status_has_an_empty_body(
    evs_simulator: EvsSimulator, get_job, job_id: str
) -> None:
    evs_simulator.inject(job_id, 302)
    async with aiohttp.ClientSession() as session:
        url = job_url(evs_simulator, job_id)
        headers = {"X-Auth-Token": evs_simulator.token}
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            assert response.status == 302
            assert await response.read() == b""


async def test_injected_drops_and_auth_failures(
    evs_simulator: EvsSimulator, get_job, job_id: str
) -> None:
    evs_simulator.inject(job_id, Reply(drop=True), Reply(drop=True), 500)
    assert (await get_job(evs_simulator, job_id, headers={}))[0] == 401  # queue untouched
    with pytest.raises(aiohttp.ServerDisconnectedError):  # aiohttp retries a GET once
        await get_job(evs_simulator, job_id)
    assert (await get_job(evs_simulator, job_id))[0] == 500
    assert (await get_job(evs_simulator, job_id))[0] == 200


async def test_max_in_flight_counts_concurrent_job_queries(
    evs_simulator: EvsSimulator, get_job, job_id: str
) -> None:
    evs_simulator.faults = Faults(latency=(0.5, 0.5))
    await asyncio.gather(*(get_job(evs_simulator, job_id) for _ in range(5)))
    assert 2 <= evs_simulator.max_in_flight <= 5
    assert evs_simulator.in_flight == 0


@pytest.mark.parametrize(
    "faults", [Faults(latency=(0.2, 0.2)), Faults(drop=1.0, latency=(0.2, 0.2))]
)
async def test_a_client_that_gave_up_does_not_upset_the_server(
    evs_simulator: EvsSimulator, job_id: str, faults: Faults
) -> None:
    evs_simulator.faults = faults
    timeout = aiohttp.ClientTimeout(sock_read=0.05)  # the request is sent, then abandoned
    async with aiohttp.ClientSession(timeout=timeout) as session:
        headers = {"X-Auth-Token": evs_simulator.token}
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(job_url(evs_simulator, job_id), headers=headers):
                pass
    for _ in range(500):  # the server finishes on its own time
        await asyncio.sleep(0.01)
        if evs_simulator.requests and not evs_simulator.in_flight:
            break
    assert evs_simulator.in_flight == 0
    assert len(evs_simulator.requests) == 1
