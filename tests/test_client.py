"""EvsJobClient over a mocked aiohttp: error mapping, validation, auth, sessions, secrets."""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.client_proto import ResponseHandler
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core
from yarl import URL

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    EvsApiError,
    EvsJobClient,
    EvsJobWatchError,
    Job,
    JobNotFoundError,
    JobStatus,
    MalformedResponseError,
    ServerError,
    ThrottledError,
    TokenAuth,
)
from evs_job_watch._auth import sign_request

# A loopback endpoint: even if the mock failed to intercept, nothing would leave the host.
ENDPOINT = "https://127.0.0.1:8443"
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
JOB = "4b5c6d7e8f90a1b2c3d4e5f60718293a"
JOB_URL = f"{ENDPOINT}/v1/{PROJECT}/jobs/{JOB}"
CANARY = "SECRET-CANARY-123"
MIB = 1024 * 1024


def job_body(job_id: str = JOB, status: str = "RUNNING") -> dict[str, Any]:
    return {
        "status": status,
        "entities": {"volume_id": "v-1", "size": 10},
        "job_id": job_id,
        "job_type": "createVolume",
        "begin_time": "2024-03-14T09:21:05.417Z",
        "end_time": "",
        "error_code": None,
        "fail_reason": None,
    }


def requests_made(mocked: aioresponses) -> list[tuple[str, URL, dict[str, Any]]]:
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mocked.requests.items()
        for call in calls
    ]


def sent_headers(mocked: aioresponses) -> list[dict[str, str]]:
    return [dict(kwargs["headers"]) for _, _, kwargs in requests_made(mocked)]


class _Response(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without aiohttp 3.14's ``stream_writer``."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentWriter())
        super().__init__(method, url, **kwargs)


class _SentWriter:
    output_size = 0


class _Mock(aioresponses):
    def add(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        kwargs.setdefault("response_class", _Response)
        super().add(*args, **kwargs)


def _roomy_stream(loop: Any = None) -> aiohttp.StreamReader:
    # aioresponses feeds a whole body into a 64 KiB stream whose dummy protocol cannot pause.
    return aiohttp.StreamReader(ResponseHandler(loop=loop), limit=4 * MIB, loop=loop)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    monkeypatch.setattr(aioresponses_core, "stream_reader_factory", _roomy_stream)
    with _Mock() as mock:
        yield mock


@pytest.fixture
async def client() -> AsyncIterator[EvsJobClient]:
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth("tok-fixed")) as evs:
        yield evs


# -- a successful answer ------------------------------------------------------------------


async def test_get_job_returns_the_decoded_job(mocked: aioresponses, client: EvsJobClient) -> None:
    mocked.get(JOB_URL, payload=job_body(status="SUCCESS"))
    job = await client.get_job(JOB)
    assert isinstance(job, Job)
    assert job.job_id == JOB
    assert job.status is JobStatus.SUCCESS
    assert job.entities.size == 10
    ((method, url, _),) = requests_made(mocked)
    assert (method, str(url)) == ("GET", JOB_URL)


async def test_every_request_has_the_timeout_and_does_not_follow_redirects(
    mocked: aioresponses,
) -> None:
    mocked.get(JOB_URL, payload=job_body())
    async with EvsJobClient(ENDPOINT, PROJECT, timeout=7.5) as client:
        await client.get_job(JOB)
    ((_, _, kwargs),) = requests_made(mocked)
    assert isinstance(kwargs["timeout"], aiohttp.ClientTimeout)
    assert kwargs["timeout"].total == 7.5
    assert kwargs["allow_redirects"] is False


async def test_endpoint_path_and_trailing_slash_are_kept_in_the_job_url(
    mocked: aioresponses,
) -> None:
    url = f"{ENDPOINT}/evs/v1/{PROJECT}/jobs/{JOB}"
    mocked.get(url, payload=job_body())
    async with EvsJobClient(f"{ENDPOINT}/evs/", PROJECT) as client:
        assert (await client.get_job(JOB)).job_id == JOB
    assert [str(u) for _, u, _ in requests_made(mocked)] == [url]


# -- the error mapping --------------------------------------------------------------------


def _api(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "code": code}}


def _gateway(code: str, message: str) -> dict[str, Any]:
    return {"error_msg": message, "error_code": code, "request_id": "7c0a9f3e5b2d4c1a8e6f"}


HTML = "<html><head><title>500 Internal Server Error</title></head><body>oops</body></html>"

# (status, body, headers, error type, code, message or None for "any non-empty")
ERROR_TABLE: list[tuple[int, Any, dict[str, str], type[EvsApiError], str | None, str | None]] = [
    (
        400,
        _api("Common.0011", "query job fail."),
        {},
        JobNotFoundError,
        "Common.0011",
        "query job fail.",
    ),
    (
        400,
        {"badRequest": {"message": "No jobs found.", "code": "Common.0011"}},
        {},
        JobNotFoundError,
        "Common.0011",
        "No jobs found.",
    ),
    (404, "", {}, JobNotFoundError, None, None),
    (
        404,
        {"itemNotFound": {"message": "job not found", "code": "EVS.5404"}},
        {},
        JobNotFoundError,
        "EVS.5404",
        "job not found",
    ),
    (
        400,
        _api("Common.0013", "token expired"),
        {},
        AuthenticationError,
        "Common.0013",
        "token expired",
    ),
    (
        400,
        _api("Common.0018", "project mismatch"),
        {},
        AuthenticationError,
        "Common.0018",
        "project mismatch",
    ),
    (400, _api("EVS.0002", "invalid token"), {}, AuthenticationError, "EVS.0002", "invalid token"),
    (401, _api("EVS.5401", "unauthorized"), {}, AuthenticationError, "EVS.5401", "unauthorized"),
    (401, "", {}, AuthenticationError, None, None),
    (403, _api("EVS.0003", "forbidden"), {}, AuthenticationError, "EVS.0003", "forbidden"),
    (
        403,
        {"forbidden": {"message": "no right", "code": "EVS.5403"}},
        {},
        AuthenticationError,
        "EVS.5403",
        "no right",
    ),
    (429, _gateway("APIG.0308", "throttled"), {}, ThrottledError, "APIG.0308", "throttled"),
    (
        429,
        _gateway("APIG.0308", "throttled"),
        {"Retry-After": "7"},
        ThrottledError,
        "APIG.0308",
        "throttled",
    ),
    (500, _api("EVS.5500", "internal error"), {}, ServerError, "EVS.5500", "internal error"),
    (503, _api("EVS.5503", "unavailable"), {}, ServerError, "EVS.5503", "unavailable"),
    (502, _gateway("APIG.0201", "Bad Gateway"), {}, ServerError, "APIG.0201", "Bad Gateway"),
    (
        504,
        _gateway("APIG.0202", "Gateway Timeout"),
        {},
        ServerError,
        "APIG.0202",
        "Gateway Timeout",
    ),
    (500, HTML, {"Content-Type": "text/html"}, ServerError, None, None),
    (
        400,
        {"badRequest": {"message": "bad field", "code": "EVS.9999"}},
        {},
        EvsApiError,
        "EVS.9999",
        "bad field",
    ),
    (
        405,
        _api("EVS.0001", "method not allowed"),
        {},
        EvsApiError,
        "EVS.0001",
        "method not allowed",
    ),
]


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "code", "message"),
    ERROR_TABLE,
    ids=[f"{row[0]}-{row[4] or 'no code'}-{row[3].__name__}" for row in ERROR_TABLE],
)
async def test_error_answer_maps_to_its_error_type(
    mocked: aioresponses,
    client: EvsJobClient,
    status: int,
    body: Any,
    headers: dict[str, str],
    error_type: type[EvsApiError],
    code: str | None,
    message: str | None,
) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    mocked.get(JOB_URL, status=status, body=text, headers=headers)
    with pytest.raises(EvsApiError) as caught:
        await client.get_job(JOB)
    error = caught.value
    assert type(error) is error_type
    assert error.status == status
    assert error.code == code
    assert error.job_id == JOB
    if message is None:
        assert isinstance(error.message, str)
        assert error.message
    else:
        assert error.message == message
    assert JOB in str(error)
    assert len(requests_made(mocked)) == 1  # the client itself never retries these


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, None), ("7", 7.0), ("0.5", 0.5), ("soon", None)],
)
async def test_throttled_error_carries_retry_after_in_seconds(
    mocked: aioresponses, client: EvsJobClient, retry_after: str | None, expected: float | None
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    mocked.get(JOB_URL, status=429, payload=_gateway("APIG.0308", "throttled"), headers=headers)
    with pytest.raises(ThrottledError) as caught:
        await client.get_job(JOB)
    assert caught.value.retry_after == expected


async def test_throttled_error_reads_an_http_date_retry_after(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    mocked.get(
        JOB_URL, status=429, payload=_gateway("APIG.0308", "t"), headers={"Retry-After": later}
    )
    with pytest.raises(ThrottledError) as caught:
        await client.get_job(JOB)
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 120


async def test_throttled_error_with_a_past_http_date_says_retry_now(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    mocked.get(
        JOB_URL, status=429, payload=_gateway("APIG.0308", "t"), headers={"Retry-After": past}
    )
    with pytest.raises(ThrottledError) as caught:
        await client.get_job(JOB)
    assert caught.value.retry_after == 0.0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_an_api_error_and_is_not_followed(
    mocked: aioresponses, client: EvsJobClient, status: int
) -> None:
    elsewhere = f"{ENDPOINT}/elsewhere"
    mocked.get(JOB_URL, status=status, headers={"Location": elsewhere})
    # Were the redirect followed, this answer would turn the call into a success.
    mocked.get(elsewhere, payload=job_body())
    with pytest.raises(EvsApiError) as caught:
        await client.get_job(JOB)
    assert type(caught.value) is EvsApiError
    assert caught.value.status == status
    assert caught.value.job_id == JOB
    assert [str(url) for _, url, _ in requests_made(mocked)] == [JOB_URL]


async def test_ok_answer_with_an_error_object_is_an_api_error(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, payload=_api("EVS.9876", "the service says no"))
    with pytest.raises(EvsApiError) as caught:
        await client.get_job(JOB)
    error = caught.value
    assert type(error) is EvsApiError
    assert (error.status, error.code, error.message, error.job_id) == (
        200,
        "EVS.9876",
        "the service says no",
        JOB,
    )


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"volumes": []}),
        json.dumps([job_body()]),
        json.dumps({"job_id": JOB}),
        HTML,
        json.dumps(job_body())[:40],
        "",
    ],
    ids=["other object", "list", "no status", "html", "truncated", "empty"],
)
async def test_ok_answer_that_is_not_a_job_is_malformed(
    mocked: aioresponses, client: EvsJobClient, body: str
) -> None:
    mocked.get(JOB_URL, body=body)
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(JOB)
    assert caught.value.job_id == JOB
    assert caught.value.excerpt == body[:200]


async def test_ok_answer_about_another_job_is_malformed(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, payload=job_body(job_id="ffffffffffffffffffffffffffffffff"))
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(JOB)
    assert caught.value.job_id == JOB
    assert "ffffffffffffffffffffffffffffffff" in str(caught.value)


# -- polling: a body seen before is not decoded again ---------------------------------


async def test_poll_job_gives_the_last_answer_back_for_the_same_body(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, body=json.dumps(job_body()), repeat=True)
    first = await client.poll_job(JOB)
    again = await client.poll_job(JOB, first)
    assert again is first
    assert first.job.status is JobStatus.RUNNING
    assert len(requests_made(mocked)) == 2


async def test_poll_job_decodes_a_body_that_changed_anywhere(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    before = job_body()
    after = {**before, "entities": {**before["entities"], "size": 11}}  # one digit differs
    mocked.get(JOB_URL, body=json.dumps(before))
    mocked.get(JOB_URL, body=json.dumps(after))
    first = await client.poll_job(JOB)
    second = await client.poll_job(JOB, first)
    assert second is not first
    assert (first.job.entities.size, second.job.entities.size) == (10, 11)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (_api("EVS.9876", "the service says no"), EvsApiError),
        (job_body(job_id="ffffffffffffffffffffffffffffffff"), MalformedResponseError),
        ({"volumes": []}, MalformedResponseError),
    ],
    ids=["error object", "another job", "not a job"],
)
async def test_poll_job_checks_a_changed_body_as_get_job_does(
    mocked: aioresponses, client: EvsJobClient, body: dict[str, Any], error: type[Exception]
) -> None:
    mocked.get(JOB_URL, body=json.dumps(job_body()))
    mocked.get(JOB_URL, body=json.dumps(body))
    first = await client.poll_job(JOB)
    with pytest.raises(error) as caught:
        await client.poll_job(JOB, first)
    assert caught.value.job_id == JOB  # type: ignore[attr-defined]


def _padded_job(size: int) -> bytes:
    head = json.dumps(job_body())[:-1].encode() + b', "pad": "'
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize("declared", [False, True], ids=["streamed", "content-length"])
async def test_body_over_one_mebibyte_is_malformed(
    mocked: aioresponses, client: EvsJobClient, declared: bool
) -> None:
    body = _padded_job(MIB + 1)
    headers = {"Content-Length": str(len(body))} if declared else {}
    mocked.get(JOB_URL, body=body, headers=headers)
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(JOB)
    assert caught.value.job_id == JOB


async def test_body_of_exactly_one_mebibyte_is_read(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, body=_padded_job(MIB))
    assert (await client.get_job(JOB)).job_id == JOB


async def test_error_answer_with_a_huge_body_is_still_mapped(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, status=503, body=b"x" * (2 * MIB))
    with pytest.raises(ServerError) as caught:
        await client.get_job(JOB)
    assert caught.value.status == 503


@pytest.mark.parametrize(
    "exception",
    [
        aiohttp.ClientConnectionError("connection reset"),
        aiohttp.ServerDisconnectedError(),
        asyncio.TimeoutError(),
    ],
    ids=["connection error", "disconnected", "timeout"],
)
async def test_no_answer_is_a_server_error_without_status(
    mocked: aioresponses, client: EvsJobClient, exception: Exception
) -> None:
    mocked.get(JOB_URL, exception=exception)
    with pytest.raises(ServerError) as caught:
        await client.get_job(JOB)
    error = caught.value
    assert error.status is None
    assert error.code is None
    assert error.job_id == JOB
    assert error.message


# -- id validation ------------------------------------------------------------------------

BAD_IDS: list[Any] = [
    "a/b",
    "a?b",
    "a#b",
    "%2e",
    "a.b",
    "..",
    " a",
    "a ",
    "a\n",
    "",
    "a" * 129,
    "é",
    None,
    5,
    b"abc",
]


@pytest.mark.parametrize("job_id", BAD_IDS, ids=repr)
async def test_invalid_job_id_is_refused_before_any_request(
    mocked: aioresponses, client: EvsJobClient, job_id: Any
) -> None:
    with pytest.raises(ValueError, match="job id"):
        await client.get_job(job_id)
    assert mocked.requests == {}


@pytest.mark.parametrize(
    "job_id",
    ["a", "a" * 128, "4b5c6d7e-8f90-a1b2-c3d4-e5f60718293a", "A_b-9"],
)
async def test_valid_job_ids_are_requested(
    mocked: aioresponses, client: EvsJobClient, job_id: str
) -> None:
    mocked.get(f"{ENDPOINT}/v1/{PROJECT}/jobs/{job_id}", payload=job_body(job_id=job_id))
    assert (await client.get_job(job_id)).job_id == job_id


# -- constructor validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://evs.eu-de.otc.t-systems.com", "https://evs.eu-de.otc.t-systems.com"),
        (
            "https://evs.ap-southeast-1.myhuaweicloud.com/",
            "https://evs.ap-southeast-1.myhuaweicloud.com",
        ),
        ("https://evs.example.com:8443/base", "https://evs.example.com:8443/base"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost", "http://localhost"),
        ("http://[::1]:1", "http://[::1]:1"),
    ],
)
def test_valid_endpoint_is_accepted(endpoint: str, expected: str) -> None:
    assert EvsJobClient(endpoint, PROJECT).endpoint == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://evs.eu-de.otc.t-systems.com",
        "http://localhost.example.com",
        "http://10.0.0.1",
        " https://evs.example.com",
        "https://evs.example.com ",
        "https://evs.example.com\n",
        "https://user:pw@evs.example.com",
        "https://user@evs.example.com",
        "https://evs.example.com/?x=1",
        "https://evs.example.com?",
        "https://evs.example.com/#top",
        "https://",
        "https:///v1",
        "evs.example.com",
        "/v1",
        "",
        "ftp://evs.example.com",
        "https://evs.example.com:99999",
        "https://evs.example.com:abc",
        "https://evs.example.com/a%2Fb",
        "https://evs.example.com/a%20b",
    ],
)
def test_invalid_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        EvsJobClient(endpoint, PROJECT)


def test_endpoint_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        EvsJobClient(None, PROJECT)  # type: ignore[arg-type]


def test_insecure_http_to_a_remote_host_needs_explicit_permission() -> None:
    client = EvsJobClient("http://evs.example.com", PROJECT, allow_insecure_http=True)
    assert client.endpoint == "http://evs.example.com"


@pytest.mark.parametrize("project_id", BAD_IDS, ids=repr)
def test_invalid_project_id_is_refused(project_id: Any) -> None:
    with pytest.raises(ValueError, match="project id"):
        EvsJobClient(ENDPOINT, project_id)


@pytest.mark.parametrize("timeout", [0, 0.0, -1, -0.001, float("nan"), float("inf")])
def test_timeout_that_is_not_a_positive_number_is_refused(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        EvsJobClient(ENDPOINT, PROJECT, timeout=timeout)


# -- credentials --------------------------------------------------------------------------


async def test_token_auth_sends_x_auth_token(mocked: aioresponses, client: EvsJobClient) -> None:
    mocked.get(JOB_URL, payload=job_body())
    await client.get_job(JOB)
    (headers,) = sent_headers(mocked)
    assert headers["X-Auth-Token"] == "tok-fixed"
    assert "Authorization" not in headers


async def test_ak_sk_auth_signs_the_job_request(mocked: aioresponses) -> None:
    mocked.get(JOB_URL, payload=job_body())
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
    mocked.get(JOB_URL, payload=job_body())
    async with EvsJobClient(ENDPOINT, PROJECT) as client:
        await client.get_job(JOB)
    (headers,) = sent_headers(mocked)
    assert not {"X-Auth-Token", "Authorization", "X-Sdk-Date"} & set(headers)


class Provider:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return f"tok-{self.calls}"


REFUSED = _api("EVS.5401", "token expired")


async def test_refused_token_is_refreshed_once_and_the_request_retried(
    mocked: aioresponses,
) -> None:
    provider = Provider()
    mocked.get(JOB_URL, status=401, payload=REFUSED)
    mocked.get(JOB_URL, payload=job_body())
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth(provider)) as client:
        job = await client.get_job(JOB)
    assert job.job_id == JOB
    assert provider.calls == 2
    assert [h["X-Auth-Token"] for h in sent_headers(mocked)] == ["tok-1", "tok-2"]


async def test_token_refused_again_after_refresh_raises_authentication_error(
    mocked: aioresponses,
) -> None:
    provider = Provider()
    mocked.get(JOB_URL, status=401, payload=REFUSED)
    mocked.get(JOB_URL, status=400, payload=_api("Common.0013", "token expired"))
    mocked.get(JOB_URL, payload=job_body())  # a third request must never be made
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
    mocked.get(JOB_URL, payload=job_body())
    async with EvsJobClient(ENDPOINT, PROJECT, auth=auth) as client:
        with pytest.raises(AuthenticationError):
            await client.get_job(JOB)
    assert len(requests_made(mocked)) == 1


async def test_errors_other_than_authentication_do_not_refresh_the_token(
    mocked: aioresponses,
) -> None:
    provider = Provider()
    mocked.get(JOB_URL, status=503, payload=_api("EVS.5503", "unavailable"))
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth(provider)) as client:
        with pytest.raises(ServerError):
            await client.get_job(JOB)
    assert provider.calls == 1
    assert len(requests_made(mocked)) == 1


# -- sessions -----------------------------------------------------------------------------


async def test_client_closes_the_session_it_created(
    mocked: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession

    def recording(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real(*args, **kwargs)
        created.append(session)
        return session

    monkeypatch.setattr(aiohttp, "ClientSession", recording)
    mocked.get(JOB_URL, payload=job_body())
    async with EvsJobClient(ENDPOINT, PROJECT) as client:
        await client.get_job(JOB)
        assert len(created) == 1
        assert not created[0].closed
    assert created[0].closed


async def test_client_that_never_sent_a_request_closes_cleanly() -> None:
    async with EvsJobClient(ENDPOINT, PROJECT) as client:
        pass
    await client.aclose()  # closing twice is harmless


async def test_client_never_closes_the_callers_session(mocked: aioresponses) -> None:
    mocked.get(JOB_URL, payload=job_body())
    mocked.get(JOB_URL, payload=job_body(status="SUCCESS"))
    async with aiohttp.ClientSession() as session:
        async with EvsJobClient(ENDPOINT, PROJECT, session=session) as client:
            await client.get_job(JOB)
        await client.aclose()
        assert not session.closed
        async with session.get(JOB_URL) as response:  # still usable by its owner
            assert response.status == 200


# -- secrets ------------------------------------------------------------------------------

SECRET_SCENARIOS: dict[str, dict[str, Any]] = {
    "not found": {"status": 400, "payload": _api("Common.0011", "query job fail.")},
    "auth": {"status": 401, "payload": REFUSED},
    "throttled": {
        "status": 429,
        "payload": _gateway("APIG.0308", "t"),
        "headers": {"Retry-After": "1"},
    },
    "server": {"status": 500, "body": HTML},
    "redirect": {"status": 302, "headers": {"Location": "https://127.0.0.1:8443/x"}},
    "error in 200": {"payload": _api("EVS.1", "no")},
    "malformed": {"body": "{not json"},
    "other job": {"payload": job_body(job_id="f" * 32)},
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


@pytest.mark.parametrize("body", [b"", b"<html>oops</html>", b'{"error": {"co'])
async def test_a_4xx_without_an_api_error_body_is_malformed_not_final(
    mocked: aioresponses, client: EvsJobClient, body: bytes
) -> None:
    mocked.get(JOB_URL, status=409, body=body)
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(JOB)
    assert caught.value.job_id == JOB
    assert "HTTP 409" in str(caught.value)
