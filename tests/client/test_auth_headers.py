"""EvsJobClient's credentials: the headers each kind of auth sends, a refused token renewed
once, and no secret in an error or a repr."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    EvsJobClient,
    EvsJobWatchError,
    ServerError,
    TokenAuth,
)
from evs_job_watch._credentials._auth import sign_request

from ..hostile.answers import job_json
from ..tokens import CountingProvider
from .mocked import (
    CANARY,
    ENDPOINT,
    HTML,
    JOB,
    JOB_URL,
    PROJECT,
    REFUSED,
    api_error,
    gateway_error,
    requests_made,
    sent_headers,
)

# -- credentials --------------------------------------------------------------------------


async def test_token_auth_sends_x_auth_token(mocked: aioresponses, client: EvsJobClient) -> None:
    mocked.get(JOB_URL, payload=job_json(JOB))
    await client.get_job(JOB)
    (headers,) = sent_headers(mocked)
    assert headers["X-Auth-Token"] == "tok-fixed"
    assert "Authorization" not in headers


async def test_ak_sk_auth_signs_the_job_request(mocked: aioresponses) -> None:
    mocked.get(JOB_URL, payload=job_json(JOB))
    async with EvsJobClient(ENDPOINT, PROJECT, auth=AkSkAuth("my-ak", "my-sk")) as client:
        await client.get_job(JOB)
    (headers,) = sent_headers(mocked)
    assert "X-Auth-Token" not in headers
    assert headers["Host"] == "127.0.0.1:8443"
    assert headers["Authorization"].startswith(
        "SDK-HMAC-SHA256 Access=my-ak, SignedHeaders=host;x-sdk-date, Signature="
    )
    expected = sign_request("GET", URL(JOB_URL), "my-ak", b"my-sk", headers["X-Sdk-Date"])
    assert headers == expected


async def test_no_auth_sends_no_credentials(mocked: aioresponses) -> None:
    mocked.get(JOB_URL, payload=job_json(JOB))
    async with EvsJobClient(ENDPOINT, PROJECT) as client:
        await client.get_job(JOB)
    (headers,) = sent_headers(mocked)
    assert not {"X-Auth-Token", "Authorization", "X-Sdk-Date"} & set(headers)


async def test_refused_token_is_refreshed_once_and_the_request_retried(
    mocked: aioresponses,
) -> None:
    provider = CountingProvider()
    mocked.get(JOB_URL, status=401, payload=REFUSED)
    mocked.get(JOB_URL, payload=job_json(JOB))
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth(provider)) as client:
        job = await client.get_job(JOB)
    assert job.job_id == JOB
    assert provider.calls == 2
    assert [h["X-Auth-Token"] for h in sent_headers(mocked)] == ["tok-1", "tok-2"]


async def test_token_refused_again_after_refresh_raises_authentication_error(
    mocked: aioresponses,
) -> None:
    provider = CountingProvider()
    mocked.get(JOB_URL, status=401, payload=REFUSED)
    mocked.get(JOB_URL, status=400, payload=api_error("Common.0013", "token expired"))
    mocked.get(JOB_URL, payload=job_json(JOB))  # a third request must never be made
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth(provider)) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_job(JOB)
    assert caught.value.job_id == JOB
    assert caught.value.code == "Common.0013"
    assert provider.calls == 2
    assert len(requests_made(mocked)) == 2


@pytest.mark.parametrize(
    "auth", [TokenAuth("tok-fixed"), AkSkAuth("ak", "sk")], ids=["fixed token", "ak/sk"]
)
async def test_refused_credentials_that_cannot_be_renewed_are_not_retried(
    mocked: aioresponses, auth: TokenAuth | AkSkAuth
) -> None:
    mocked.get(JOB_URL, status=401, payload=REFUSED)
    mocked.get(JOB_URL, payload=job_json(JOB))
    async with EvsJobClient(ENDPOINT, PROJECT, auth=auth) as client:
        with pytest.raises(AuthenticationError):
            await client.get_job(JOB)
    assert len(requests_made(mocked)) == 1


async def test_errors_other_than_authentication_do_not_refresh_the_token(
    mocked: aioresponses,
) -> None:
    provider = CountingProvider()
    mocked.get(JOB_URL, status=503, payload=api_error("EVS.5503", "unavailable"))
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth(provider)) as client:
        with pytest.raises(ServerError):
            await client.get_job(JOB)
    assert provider.calls == 1
    assert len(requests_made(mocked)) == 1


# -- secrets ------------------------------------------------------------------------------


SECRET_SCENARIOS: dict[str, dict[str, Any]] = {
    "not found": {"status": 400, "payload": api_error("Common.0011", "query job fail.")},
    "auth": {"status": 401, "payload": REFUSED},
    "throttled": {
        "status": 429,
        "payload": gateway_error("APIG.0308", "t"),
        "headers": {"Retry-After": "1"},
    },
    "server": {"status": 500, "body": HTML},
    "redirect": {"status": 302, "headers": {"Location": "https://127.0.0.1:8443/x"}},
    "error in 200": {"payload": api_error("EVS.1", "no")},
    "malformed": {"body": "{not json"},
    "other job": {"payload": job_json("f" * 32)},
    "connection": {"exception": aiohttp.ClientConnectionError("reset")},
    "timeout": {"exception": asyncio.TimeoutError()},
}


@pytest.mark.parametrize("answer", SECRET_SCENARIOS.values(), ids=SECRET_SCENARIOS.keys())
async def test_no_error_and_no_repr_shows_the_token(
    mocked: aioresponses, answer: dict[str, Any]
) -> None:
    mocked.get(JOB_URL, **answer)
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth(CANARY)) as client:
        assert CANARY not in repr(client)
        assert CANARY not in str(client)
        with pytest.raises(EvsJobWatchError) as caught:
            await client.get_job(JOB)
    error = caught.value
    text = "".join(traceback.format_exception(type(error), error, None))
    assert CANARY not in str(error)
    assert CANARY not in repr(error)
    assert CANARY not in text
    assert getattr(error, "job_id", None) == JOB


async def test_client_repr_shows_endpoint_and_project_but_no_credentials() -> None:
    client = EvsJobClient(ENDPOINT, PROJECT, auth=AkSkAuth("AK-" + CANARY, "SK-" + CANARY))
    assert ENDPOINT in repr(client)
    assert PROJECT in repr(client)
    assert CANARY not in repr(client)
    await client.aclose()


# -- ready headers, without awaiting --------------------------------------------------------


class _ReadyOrNot:
    """An auth of one's own: ``current_headers`` ready or not, and the awaits counted."""

    def __init__(self, ready: bool) -> None:
        self.ready = ready
        self.awaited = 0

    def current_headers(self, method: str, url: URL) -> dict[str, str] | None:
        return {"X-Auth-Token": "ready"} if self.ready else None

    async def headers(self, method: str, url: URL) -> dict[str, str]:
        self.awaited += 1
        return {"X-Auth-Token": "awaited"}

    async def refresh(self, used: Any) -> bool:
        return False


@pytest.mark.parametrize("ready", [True, False])
async def test_ready_headers_are_sent_and_only_headers_not_ready_are_awaited(
    mocked: aioresponses, ready: bool
) -> None:
    mocked.get(JOB_URL, payload=job_json(JOB), repeat=True)
    auth = _ReadyOrNot(ready)
    async with EvsJobClient(ENDPOINT, PROJECT, auth=auth) as client:
        for _ in range(3):
            await client.get_job(JOB)
    assert [h["X-Auth-Token"] for h in sent_headers(mocked)] == [
        "ready" if ready else "awaited"
    ] * 3
    assert auth.awaited == (0 if ready else 3)


async def test_a_provided_token_is_fetched_once_then_sent_ready(mocked: aioresponses) -> None:
    mocked.get(JOB_URL, payload=job_json(JOB), repeat=True)
    provider = CountingProvider()
    auth = TokenAuth(provider)
    assert auth.current_headers("GET", URL(JOB_URL)) is None  # not fetched yet: awaited
    async with EvsJobClient(ENDPOINT, PROJECT, auth=auth) as client:
        await client.get_job(JOB)
        assert dict(auth.current_headers("GET", URL(JOB_URL)) or {}) == {"X-Auth-Token": "tok-1"}
        await client.get_job(JOB)
    assert provider.calls == 1
    assert [h["X-Auth-Token"] for h in sent_headers(mocked)] == ["tok-1", "tok-1"]
