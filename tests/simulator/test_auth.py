"""Gateway auth (token, AK/SK) and the project check, on every route."""

from __future__ import annotations

import time

import aiohttp
import orjson
import pytest

from evs_job_watch.simulator import EvsSimulator
from evs_job_watch.simulator._signing import (
    DATE_FORMAT,
    authorization,
    canonical_request,
    parse_authorization,
    verify,
)

from .conftest import job_url


def sdk_date(offset: float = 0.0) -> str:
    return time.strftime(DATE_FORMAT, time.gmtime(time.time() + offset))


def signed_headers(
    sim: EvsSimulator,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    secret: str | None = None,
    date_offset: float = 0.0,
) -> dict[str, str]:
    host = sim.endpoint.removeprefix("http://")
    headers = {"Host": host, "X-Sdk-Date": sdk_date(date_offset)}
    headers["Authorization"] = authorization(
        sim.access_key,
        secret or sim.secret_key,
        method=method,
        path=path,
        headers=headers,
        body=body,
    )
    return headers


def assert_gateway_error(body: bytes, code: str) -> None:
    error = orjson.loads(body)
    assert set(error) == {"error_msg", "error_code", "request_id"}
    assert error["error_code"] == code
    assert len(error["request_id"]) == 32


def test_the_published_signing_vector() -> None:
    value = authorization(
        "my ak",
        "my sk",
        method="GET",
        path="/resources",
        raw_query="size=1",
        headers={"Host": "service.endpoint.myhuaweicloud.com", "X-Sdk-Date": "20200608T023900Z"},
    )
    assert value == (
        "SDK-HMAC-SHA256 Access=my ak, SignedHeaders=host;x-sdk-date, "
        "Signature=6d5bc610d3d4475346aae5cd7ed8d99585e60c0430a1d3d6e2f54e2bdd633701"
    )


def test_the_canonical_request_sorts_the_query_and_adds_one_trailing_slash() -> None:
    text = canonical_request("get", "/a/", "b=2&a=1&a=0&c", {"host": " h "}, ["host"], b"")
    lines = text.split("\n")
    assert lines[:4] == ["GET", "/a/", "a=0&a=1&b=2&c=", "host:h"]
    assert lines[5] == "host"


def test_malformed_authorization_values_are_refused() -> None:
    assert parse_authorization("Bearer x") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=a, SignedHeaders=host") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=a SignedHeaders=host") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=a, junk, Signature=s") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=a, SignedHeaders=Host, Signature=s") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=s") == (
        "a",
        ["host"],
        "s",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Authorization": "nonsense"}, "malformed"),
        ({"X-Sdk-Date": "yesterday"}, "X-Sdk-Date"),
        ({"X-Sdk-Date": "20200608T023900Z"}, "too far"),
        ({"Host": "other.example"}, "mismatch"),
    ],
)
def test_verify_says_why_a_signature_is_refused(change: dict[str, str], reason: str) -> None:
    now = time.time()
    headers = {"Host": "h", "X-Sdk-Date": time.strftime(DATE_FORMAT, time.gmtime(now))}
    headers["Authorization"] = authorization("ak", "sk", method="GET", path="/x", headers=headers)
    headers.update(change)
    problem = verify(
        method="GET",
        path="/x",
        raw_query="",
        headers=headers,
        body=b"",
        credentials={"ak": "sk"},
        now=now,
    )
    assert problem is not None and reason in problem


def test_verify_requires_known_keys_and_signed_sorted_date() -> None:
    now = time.time()
    date = time.strftime(DATE_FORMAT, time.gmtime(now))

    def check(auth: str, headers: dict[str, str] | None = None) -> str | None:
        sent = {"Authorization": auth, "X-Sdk-Date": date, **(headers or {})}
        return verify(
            method="GET",
            path="/",
            raw_query="",
            headers=sent,
            body=b"",
            credentials={"ak": "sk"},
            now=now,
        )

    sig = "SDK-HMAC-SHA256 Access={}, SignedHeaders={}, Signature=00"
    assert "unknown access key" in (check(sig.format("zz", "x-sdk-date")) or "")
    assert "include x-sdk-date" in (check(sig.format("ak", "host")) or "")
    assert "include x-sdk-date" in (check(sig.format("ak", "x-sdk-date;host")) or "")
    assert "missing" in (check(sig.format("ak", "host;x-sdk-date")) or "")


async def test_a_valid_token_is_accepted(evs_simulator: EvsSimulator, get_job) -> None:
    job_id = evs_simulator.create_job()
    assert (await get_job(evs_simulator, job_id))[0] == 200


@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": "wrong"}])
async def test_a_missing_or_bad_token_is_401_apig_1002(
    evs_simulator: EvsSimulator, get_job, headers: dict[str, str]
) -> None:
    status, _, body = await get_job(evs_simulator, "0" * 32, headers=headers)
    assert status == 401
    assert_gateway_error(body, "APIG.1002")


async def test_rotate_token_retires_the_old_one(evs_simulator: EvsSimulator, get_job) -> None:
    job_id = evs_simulator.create_job()
    old = evs_simulator.token
    new = evs_simulator.rotate_token()
    assert new == evs_simulator.token != old
    assert (await get_job(evs_simulator, job_id, headers={"X-Auth-Token": old}))[0] == 401
    assert (await get_job(evs_simulator, job_id, headers={"X-Auth-Token": new}))[0] == 200


async def test_another_project_is_400_common_0018(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    url = job_url(evs_simulator, "0" * 32, project_id="f" * 32)
    async with http.get(url, headers={"X-Auth-Token": evs_simulator.token}) as response:
        assert response.status == 400
        assert orjson.loads(await response.read())["error"]["code"] == "Common.0018"


async def test_a_signed_job_query_is_accepted(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    job_id = evs_simulator.create_job()
    path = f"/v1/{evs_simulator.project_id}/jobs/{job_id}"
    headers = signed_headers(evs_simulator, "GET", path)
    async with http.get(evs_simulator.endpoint + path, headers=headers) as response:
        assert response.status == 200


@pytest.mark.parametrize(("secret", "offset"), [("not the secret", 0.0), (None, -20 * 60.0)])
async def test_a_bad_or_stale_signature_is_401_apig_0301(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, secret: str | None, offset: float
) -> None:
    path = f"/v1/{evs_simulator.project_id}/jobs/{'0' * 32}"
    headers = signed_headers(evs_simulator, "GET", path, secret=secret, date_offset=offset)
    async with http.get(evs_simulator.endpoint + path, headers=headers) as response:
        assert response.status == 401
        assert_gateway_error(await response.read(), "APIG.0301")


async def test_a_signature_covers_the_body(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession
) -> None:
    path = f"/v2/{evs_simulator.project_id}/cloudvolumes"
    body = orjson.dumps({"volume": {"size": 10, "volume_type": "SSD", "name": "d"}})
    headers = signed_headers(evs_simulator, "POST", path, body)
    async with http.post(evs_simulator.endpoint + path, data=body, headers=headers) as response:
        assert response.status == 202
    tampered = body.replace(b"10", b"20")
    async with http.post(evs_simulator.endpoint + path, data=tampered, headers=headers) as response:
        assert response.status == 401


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("POST", "/cloudvolumes"), ("POST", "/cloudvolumes/v/action"), ("DELETE", "/cloudvolumes/v")],
)
async def test_every_route_checks_auth_and_project(
    evs_simulator: EvsSimulator, http: aiohttp.ClientSession, method: str, suffix: str
) -> None:
    url = f"{evs_simulator.endpoint}/v2/{evs_simulator.project_id}{suffix}"
    async with http.request(method, url, json={}) as response:
        assert response.status == 401
    other = f"{evs_simulator.endpoint}/v2/{'f' * 32}{suffix}"
    headers = {"X-Auth-Token": evs_simulator.token}
    async with http.request(method, other, json={}, headers=headers) as response:
        assert response.status == 400
        assert orjson.loads(await response.read())["error"]["code"] == "Common.0018"
