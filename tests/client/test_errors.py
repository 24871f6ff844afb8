"""EvsJobClient over a mocked aiohttp: each error answer, malformed answer or missing answer
mapped to its error type, with its status, code, message and job id."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from evs_job_watch import (
    AuthenticationError,
    EvsApiError,
    EvsJobClient,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
)

from ..hostile.answers import MIB, job_json
from .mocked import ENDPOINT, HTML, JOB, JOB_URL, api_error, gateway_error, requests_made

# -- the error mapping --------------------------------------------------------------------


# (status, body, headers, error type, code, message or None for "any non-empty")
ERROR_TABLE: list[tuple[int, Any, dict[str, str], type[EvsApiError], str | None, str | None]] = [
    (
        400,
        api_error("Common.0011", "query job fail."),
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
        api_error("Common.0013", "token expired"),
        {},
        AuthenticationError,
        "Common.0013",
        "token expired",
    ),
    (
        400,
        api_error("Common.0018", "project mismatch"),
        {},
        AuthenticationError,
        "Common.0018",
        "project mismatch",
    ),
    (
        400,
        api_error("EVS.0002", "invalid token"),
        {},
        AuthenticationError,
        "EVS.0002",
        "invalid token",
    ),
    (
        401,
        api_error("EVS.5401", "unauthorized"),
        {},
        AuthenticationError,
        "EVS.5401",
        "unauthorized",
    ),
    (401, "", {}, AuthenticationError, None, None),
    (403, api_error("EVS.0003", "forbidden"), {}, AuthenticationError, "EVS.0003", "forbidden"),
    (
        403,
        {"forbidden": {"message": "no right", "code": "EVS.5403"}},
        {},
        AuthenticationError,
        "EVS.5403",
        "no right",
    ),
    (429, gateway_error("APIG.0308", "throttled"), {}, ThrottledError, "APIG.0308", "throttled"),
    (
        429,
        gateway_error("APIG.0308", "throttled"),
        {"Retry-After": "7"},
        ThrottledError,
        "APIG.0308",
        "throttled",
    ),
    (500, api_error("EVS.5500", "internal error"), {}, ServerError, "EVS.5500", "internal error"),
    (503, api_error("EVS.5503", "unavailable"), {}, ServerError, "EVS.5503", "unavailable"),
    (502, gateway_error("APIG.0201", "Bad Gateway"), {}, ServerError, "APIG.0201", "Bad Gateway"),
    (
        504,
        gateway_error("APIG.0202", "Gateway Timeout"),
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
        api_error("EVS.0001", "method not allowed"),
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
    mocked.get(
        JOB_URL, status=429, payload=gateway_error("APIG.0308", "throttled"), headers=headers
    )
    with pytest.raises(ThrottledError) as caught:
        await client.get_job(JOB)
    assert caught.value.retry_after == expected


async def test_throttled_error_reads_an_http_date_retry_after(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    mocked.get(
        JOB_URL, status=429, payload=gateway_error("APIG.0308", "t"), headers={"Retry-After": later}
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
        JOB_URL, status=429, payload=gateway_error("APIG.0308", "t"), headers={"Retry-After": past}
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
    mocked.get(elsewhere, payload=job_json(JOB))
    with pytest.raises(EvsApiError) as caught:
        await client.get_job(JOB)
    assert type(caught.value) is EvsApiError
    assert caught.value.status == status
    assert caught.value.job_id == JOB
    assert [str(url) for _, url, _ in requests_made(mocked)] == [JOB_URL]


async def test_error_answer_with_a_huge_body_is_still_mapped(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, status=503, body=b"x" * (2 * MIB))
    with pytest.raises(ServerError) as caught:
        await client.get_job(JOB)
    assert caught.value.status == 503


# -- answers that are not a job, and no answer --------------------------------------------


async def test_ok_answer_with_an_error_object_is_an_api_error(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, payload=api_error("EVS.9876", "the service says no"))
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
        json.dumps([job_json(JOB)]),
        json.dumps({"job_id": JOB}),
        HTML,
        json.dumps(job_json(JOB))[:40],
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
    mocked.get(JOB_URL, payload=job_json("ffffffffffffffffffffffffffffffff"))
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(JOB)
    assert caught.value.job_id == JOB
    assert "ffffffffffffffffffffffffffffffff" in str(caught.value)


@pytest.mark.parametrize("body", [b"", b"<html>oops</html>", b'{"error": {"co'])
async def test_a_4xx_without_an_api_error_body_is_malformed_not_final(
    mocked: aioresponses, client: EvsJobClient, body: bytes
) -> None:
    mocked.get(JOB_URL, status=409, body=body)
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(JOB)
    assert caught.value.job_id == JOB
    assert "HTTP 409" in str(caught.value)


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
