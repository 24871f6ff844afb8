"""The simulator's IAM and metadata service: what they hand out, and how long it works."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import pytest

from evs_job_watch.simulator import EvsSimulator
from evs_job_watch.simulator._signing import DATE_FORMAT, authorization

from .conftest import job_url

# 1000 simulated seconds per real second: a 100 s key lives a tenth of a second.
FAST = {"speed": 1000.0}


def password_body(
    sim: EvsSimulator, *, password: str | None = None, scope: dict[str, Any] | None = None
) -> bytes:
    identity = sim.identity
    user = {
        "name": identity.username,
        "password": identity.password if password is None else password,
        "domain": {"name": identity.domain_name},
    }
    auth = {
        "identity": {"methods": ["password"], "password": {"user": user}},
        "scope": {"project": scope or {"id": sim.project_id}},
    }
    return orjson.dumps({"auth": auth})


async def get_token(
    http: aiohttp.ClientSession, sim: EvsSimulator, body: bytes
) -> tuple[int, str | None, Any]:
    async with http.post(f"{sim.endpoint}/v3/auth/tokens", data=body) as response:
        return (
            response.status,
            response.headers.get("X-Subject-Token"),
            orjson.loads(await response.read()),
        )


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- IAM ------------------------------------------------------------------------------------


async def test_iam_issues_a_token_that_opens_the_job_api(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, get_job
) -> None:
    status, token, body = await get_token(http, evs_simulator, password_body(evs_simulator))
    assert status == 201 and token
    assert body["token"]["project"]["id"] == evs_simulator.project_id
    left = parse(body["token"]["expires_at"]).timestamp() - time.time()
    assert 86400 / 100 - 5 < left <= 86400 / 100 + 1  # a day, at the fixture's speed 100
    job_id = evs_simulator.create_job()
    assert (await get_job(evs_simulator, job_id, headers={"X-Auth-Token": token}))[0] == 200
    assert [r.status for r in evs_simulator.requests if r.path == "/v3/auth/tokens"] == [201]


async def test_iam_scopes_by_project_name_in_the_users_domain(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    identity = evs_simulator.identity
    scope = {"name": identity.project_name, "domain": {"name": identity.domain_name}}
    status, _, body = await get_token(
        http, evs_simulator, password_body(evs_simulator, scope=scope)
    )
    assert status == 201
    assert body["token"]["project"]["id"] == evs_simulator.project_id


@pytest.mark.parametrize(
    "change",
    ["password", "project id", "project name", "project domain"],
)
async def test_iam_refuses_a_wrong_password_or_project_with_401(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, change: str
) -> None:
    identity = evs_simulator.identity
    body = {
        "password": password_body(evs_simulator, password="wrong"),
        "project id": password_body(evs_simulator, scope={"id": "f" * 32}),
        "project name": password_body(
            evs_simulator, scope={"name": "other", "domain": {"name": identity.domain_name}}
        ),
        "project domain": password_body(
            evs_simulator, scope={"name": identity.project_name, "domain": {"name": "other"}}
        ),
    }[change]
    status, token, answer = await get_token(http, evs_simulator, body)
    assert (status, token) == (401, None)
    assert answer["error"]["code"] == 401


async def test_iam_answers_a_malformed_body_with_400(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    status, token, _ = await get_token(http, evs_simulator, b'{"auth": {}}')
    assert (status, token) == (400, None)


@pytest.mark.parametrize("evs_simulator_options", [{**FAST, "token_lifetime": 100.0}])
async def test_an_iam_token_stops_working_when_it_expires(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, get_job
) -> None:
    _, token, _ = await get_token(http, evs_simulator, password_body(evs_simulator))
    job_id = evs_simulator.create_job()
    assert (await get_job(evs_simulator, job_id, headers={"X-Auth-Token": token}))[0] == 200
    await asyncio.sleep(0.15)
    assert (await get_job(evs_simulator, job_id, headers={"X-Auth-Token": token}))[0] == 401


async def test_revoke_refuses_issued_tokens(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, get_job
) -> None:
    _, token, _ = await get_token(http, evs_simulator, password_body(evs_simulator))
    evs_simulator.identity.revoke()
    job_id = evs_simulator.create_job()
    assert (await get_job(evs_simulator, job_id, headers={"X-Auth-Token": token}))[0] == 401
    assert (await get_job(evs_simulator, job_id))[0] == 200  # its own token still works


# -- metadata service ------------------------------------------------------------------------


async def session_token(http: aiohttp.ClientSession, sim: EvsSimulator, ttl: str = "60") -> str:
    headers = {"X-Metadata-Token-Ttl-Seconds": ttl}
    async with http.put(f"{sim.endpoint}/meta-data/latest/api/token", headers=headers) as reply:
        assert reply.status == 200
        return await reply.text()


async def security_key(
    http: aiohttp.ClientSession, sim: EvsSimulator, token: str | None
) -> tuple[int, Any]:
    headers = {"X-Metadata-Token": token} if token else {}
    async with http.get(f"{sim.endpoint}/openstack/latest/securitykey", headers=headers) as reply:
        body = await reply.read()
        return reply.status, orjson.loads(body) if reply.status == 200 else body


def temporary_headers(
    sim: EvsSimulator, path: str, credential: dict[str, str], *, send: bool, sign: bool
) -> dict[str, str]:
    headers = {
        "Host": sim.endpoint.removeprefix("http://"),
        "X-Sdk-Date": time.strftime(DATE_FORMAT, time.gmtime()),
    }
    token = {"X-Security-Token": credential["securitytoken"]}
    signed = {**headers, **token} if sign else headers
    headers["Authorization"] = authorization(
        credential["access"], credential["secret"], method="GET", path=path, headers=signed
    )
    return {**headers, **token} if send else headers


async def query_with(
    http: aiohttp.ClientSession, sim: EvsSimulator, credential: dict[str, str], **how: bool
) -> int:
    job_id = sim.create_job()
    path = f"/v1/{sim.project_id}/jobs/{job_id}"
    headers = temporary_headers(sim, path, credential, **{"send": True, "sign": True, **how})
    async with http.get(sim.endpoint + path, headers=headers) as reply:
        return reply.status


async def test_metadata_keys_sign_job_queries_with_their_security_token(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    status, body = await security_key(http, evs_simulator, await session_token(http, evs_simulator))
    assert status == 200
    credential = body["credential"]
    assert set(credential) == {"access", "secret", "securitytoken", "expires_at"}
    left = parse(credential["expires_at"]).timestamp() - time.time()
    assert 3600 / 100 - 5 < left <= 3600 / 100 + 1
    assert await query_with(http, evs_simulator, credential) == 200
    assert await query_with(http, evs_simulator, credential, send=False, sign=False) == 401
    assert await query_with(http, evs_simulator, credential, sign=False) == 401


@pytest.mark.parametrize("ttl", ["", "0", "21601", "abc"])
async def test_a_session_token_needs_a_sane_ttl(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, ttl: str
) -> None:
    headers = {"X-Metadata-Token-Ttl-Seconds": ttl} if ttl else {}
    url = f"{evs_simulator.endpoint}/meta-data/latest/api/token"
    async with http.put(url, headers=headers) as reply:
        assert reply.status == 400


async def test_the_keys_need_a_live_session_token(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    assert (await security_key(http, evs_simulator, None))[0] == 401
    assert (await security_key(http, evs_simulator, "made-up"))[0] == 401
    token = await session_token(http, evs_simulator)
    evs_simulator.identity.expire_session_tokens()
    assert (await security_key(http, evs_simulator, token))[0] == 401


@pytest.mark.parametrize("evs_simulator_options", [{"metadata_session_tokens": False}])
async def test_an_older_metadata_service_has_no_session_tokens(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    url = f"{evs_simulator.endpoint}/meta-data/latest/api/token"
    async with http.put(url, headers={"X-Metadata-Token-Ttl-Seconds": "60"}) as reply:
        assert reply.status == 404
    status, body = await security_key(http, evs_simulator, None)
    assert status == 200 and body["credential"]["access"]


def test_keys_are_replaced_a_sixth_of_their_life_before_they_expire() -> None:
    sim = EvsSimulator(speed=1.0, key_lifetime=3600.0)
    identity = sim.identity
    first = identity.current_key(now=0.0)
    assert first.expires == 3600.0
    assert identity.current_key(now=2999.0) is first
    second = identity.current_key(now=3000.0)  # ten minutes before
    assert second.access_key != first.access_key and second.expires == 6600.0
    short = EvsSimulator(key_lifetime=60.0).identity
    young = short.current_key(now=0.0)
    assert short.current_key(now=49.0) is young
    assert short.current_key(now=50.0) is not young  # a sixth of an hour-long life


async def test_replaced_keys_work_until_they_expire(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    token = await session_token(http, evs_simulator)
    first = (await security_key(http, evs_simulator, token))[1]["credential"]
    assert (await security_key(http, evs_simulator, token))[1]["credential"] == first
    now = asyncio.get_running_loop().time()
    evs_simulator.identity.current_key(now=evs_simulator.identity.issued_keys[0].expires - 1)
    second = (await security_key(http, evs_simulator, token))[1]["credential"]
    assert second["access"] != first["access"]
    assert evs_simulator.identity.issued_keys[0].expires > now  # the first is still live
    assert await query_with(http, evs_simulator, first) == 200
    assert await query_with(http, evs_simulator, second) == 200


@pytest.mark.parametrize("evs_simulator_options", [{**FAST, "key_lifetime": 100.0}])
async def test_expired_keys_are_refused(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    token = await session_token(http, evs_simulator)
    credential = (await security_key(http, evs_simulator, token))[1]["credential"]
    await asyncio.sleep(0.15)  # past their life of 0.1 s
    assert await query_with(http, evs_simulator, credential) == 401


# -- ECS jobs ----------------------------------------------------------------------------


async def test_a_server_create_is_a_batch_of_single_server_jobs(
    evs_simulator: EvsSimulator, get_job
) -> None:
    job_id = evs_simulator.create_job("createServer", count=2)
    status, _, body = await get_job(evs_simulator, job_id)
    job = orjson.loads(body)
    assert status == 200 and job["job_type"] == "createServer"
    subs = job["entities"]["sub_jobs"]
    assert [sub["job_type"] for sub in subs] == ["createSingleServer"] * 2
    assert all(set(sub["entities"]) == {"server_id"} for sub in subs)
    assert [sub["job_id"] for sub in subs] == evs_simulator.sub_job_ids(job_id)


async def test_scripted_ecs_jobs_carry_server_ids(evs_simulator: EvsSimulator, get_job) -> None:
    delete = evs_simulator.add_job("deleteServer", timeline=[(0, "RUNNING")])
    create = evs_simulator.add_job("createServer", sub_jobs=[[(0, "RUNNING")]])
    nic = evs_simulator.add_job(
        "attachInterface", timeline=[(0, "INIT")], entities={"server_id": "s-1", "nic_id": "n-1"}
    )
    bodies = [orjson.loads((await get_job(evs_simulator, j))[2]) for j in (delete, create, nic)]
    assert set(bodies[0]["entities"]) == {"server_id"}
    [sub] = bodies[1]["entities"]["sub_jobs"]
    assert sub["job_type"] == "createSingleServer" and set(sub["entities"]) == {"server_id"}
    assert bodies[2]["entities"]["nic_id"] == "n-1"


# -- https -------------------------------------------------------------------------------


async def test_with_a_certificate_the_simulator_serves_https() -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    async with (
        EvsSimulator(ssl=server, speed=100) as sim,
        aiohttp.ClientSession() as http,
    ):
        assert sim.endpoint.startswith("https://127.0.0.1:")
        job_id = sim.create_job()
        headers = {"X-Auth-Token": sim.token}
        async with http.get(job_url(sim, job_id), headers=headers, ssl=client) as reply:
            assert reply.status == 200
