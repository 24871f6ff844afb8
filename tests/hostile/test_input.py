"""Hostile and broken input over real loopback HTTP: each ends in a job, a retry or one error.

The rows of docs/hostile-input.md that tests/test_client.py and tests/test_codec.py do not
already prove. Answers come from the embedded simulator (``EvsSimulator.inject``), or from
a small aiohttp server of our own where the simulator cannot send them (a chunked body).
"""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from evs_job_watch import (
    AuthenticationError,
    EvsApiError,
    EvsJobClient,
    JobStatus,
    JobWatcher,
    MalformedResponseError,
    ServerError,
    ThrottledError,
    TokenAuth,
)
from evs_job_watch.simulator import EvsSimulator, Reply

from .answers import (
    DEADLINE,
    MIB,
    job_json,
    padded_job,
    serve,
)

# -- ids and endpoints: refused before any request -----------------------------------------

# Beyond tests/test_client.py::BAD_IDS: more characters that could change the URL.
MORE_BAD_IDS: list[Any] = [
    "a%2Fb",
    "%41",
    "a\x00b",
    "a\tb",
    "\u0430",  # Cyrillic a: a look-alike of an allowed letter
    "\u0661",  # Arabic-Indic digit one: a digit to str.isdigit, not to the id rule
    "a\u200bb",
    "a;b",
    "a\\b",
    "a+b",
    "a@b",
    "a:b",
    "a" * 128 + "\n",
    5.0,
    True,
    ["a"],
    bytearray(b"a"),
]


@pytest.mark.parametrize("bad_id", MORE_BAD_IDS, ids=repr)
async def test_hostile_job_id_is_refused_before_any_request_reaches_the_server(
    sim: EvsSimulator, client: EvsJobClient, bad_id: Any
) -> None:
    with pytest.raises(ValueError, match="job id"):
        await client.get_job(bad_id)
    async with JobWatcher(client) as watcher:
        with pytest.raises(ValueError, match="job id"):
            watcher.watch(bad_id)
    assert list(sim.requests) == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evs.example.com:0",
        "https://evs.example.com\\@evil.example",
        "https://evil.example\\.evs.example.com",
        "http://127.0.0.1.evil.example",
        "http://127.1",
        "http://0.0.0.0",
        "http://[::ffff:a00:1]",
    ],
)
def test_hostile_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        EvsJobClient(endpoint, "0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evs.example.com/%2e%2e",  # checked as "/" after yarl's normalisation
        "https://evs.example.com/%41",
        "https://evs.exa mple.com",
    ],
)
def test_endpoint_with_percent_escapes_or_inner_whitespace_is_refused(endpoint: str) -> None:
    # The rule is "letters, digits and - . _ ~ /" in the path and a valid host; the text
    # that is checked must be the text that is requested.
    with pytest.raises(ValueError, match="endpoint"):
        EvsJobClient(endpoint, "0123456789abcdef0123456789abcdef")


# -- credentials ----------------------------------------------------------------------------


async def test_a_failing_token_provider_gives_each_request_an_error_about_its_own_job(
    sim: EvsSimulator,
) -> None:
    async def provider() -> str:
        await asyncio.sleep(0)  # both requests wait on this one call
        raise RuntimeError("IAM is down")

    async with EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(provider)) as client:
        errors = await asyncio.gather(
            client.get_job("a1"), client.get_job("b2"), return_exceptions=True
        )
    assert [type(error) for error in errors] == [AuthenticationError, AuthenticationError]
    assert [getattr(error, "job_id", None) for error in errors] == ["a1", "b2"]
    assert list(sim.requests) == []


# -- bodies: the 1 MiB cap -------------------------------------------------------------------


async def test_chunked_body_over_the_cap_is_malformed_and_not_read_to_the_end() -> None:
    sent = 0
    head = orjson.dumps(job_json("j1"))[:-1] + b',"pad":"'

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()  # no Content-Length: only counting can stop it
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            await response.write(head)
            while sent < 256 * MIB:
                await response.write(chunk)
                sent += len(chunk)
        except ConnectionError:
            pass  # the client hung up, as it should
        return response

    async with serve(endless) as endpoint, EvsJobClient(endpoint, "p1") as client:
        with pytest.raises(MalformedResponseError) as caught:
            await asyncio.wait_for(client.get_job("j1"), DEADLINE)
    assert caught.value.job_id == "j1"
    assert "larger than" in caught.value.reason
    # Socket buffers hold a few MiB at most; a client reading to the end would take 256.
    assert sent < 32 * MIB


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
    ids=["gzip", "deflate"],
)
async def test_compressed_body_that_expands_past_the_cap_is_malformed(
    sim: EvsSimulator,
    client: EvsJobClient,
    job_id: str,
    encoding: str,
    compress: Callable[[bytes], bytes],
) -> None:
    # A few KiB on the wire, 4 MiB once inflated: the cap is on what is held in memory.
    bomb = compress(padded_job(job_id, 4 * MIB))
    assert len(bomb) < 64 * 1024
    sim.inject(job_id, Reply(status=200, body=bomb, headers={"Content-Encoding": encoding}))
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(job_id)
    assert caught.value.job_id == job_id


async def test_compressed_body_within_the_cap_is_decoded(
    sim: EvsSimulator, client: EvsJobClient, job_id: str
) -> None:
    body = gzip.compress(orjson.dumps(job_json(job_id, status="SUCCESS")))
    sim.inject(job_id, Reply(status=200, body=body, headers={"Content-Encoding": "gzip"}))
    job = await client.get_job(job_id)
    assert job.status is JobStatus.SUCCESS


# -- bodies: what they claim to be -----------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/html", "text/plain", "application/octet-stream", "application/xml"]
)
async def test_wrong_content_type_is_tolerated_and_parsed_by_content(
    sim: EvsSimulator, client: EvsJobClient, job_id: str, content_type: str
) -> None:
    body = orjson.dumps(job_json(job_id, status="SUCCESS"))
    sim.inject(job_id, Reply(status=200, body=body, content_type=content_type))
    job = await client.get_job(job_id)
    assert (job.job_id, job.status) == (job_id, JobStatus.SUCCESS)


async def test_extra_fields_everywhere_are_tolerated(
    sim: EvsSimulator, client: EvsJobClient, job_id: str
) -> None:
    body = job_json(
        job_id,
        region="eu-de",  # unknown top-level keys
        links=[{"rel": "self"}],
        entities={"volume_id": "v-1", "size": 10, "availability_zone": "eu-de-01", "x": None},
    )
    sim.inject(job_id, Reply(status=200, body=body))
    job = await client.get_job(job_id)
    assert job.entities.volume_id == "v-1"
    assert dict(job.entities.extra) == {"availability_zone": "eu-de-01", "x": None}


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'"name": "caf\xff\xfe", ', "application/json"),
        (b'"name": "caf\xe9", ', "application/json; charset=iso-8859-1"),
        (b'"name": "\xed\xa0\x80", ', "application/json; charset=utf-8"),  # a lone surrogate
    ],
    ids=["invalid UTF-8", "Latin-1 declared", "UTF-8 encoded surrogate"],
)
async def test_body_that_is_not_utf8_is_malformed_whatever_the_charset(
    sim: EvsSimulator, client: EvsJobClient, job_id: str, raw: bytes, content_type: str
) -> None:
    # JSON is UTF-8 (RFC 8259); a declared charset does not change how the bytes are read.
    body = b'{"job_id": "' + job_id.encode() + b'", ' + raw + b'"status": "RUNNING"}'
    sim.inject(job_id, Reply(status=200, body=body, headers={"Content-Type": content_type}))
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(job_id)
    assert caught.value.job_id == job_id
    assert "not JSON" in caught.value.reason


@pytest.mark.parametrize(
    ("status", "body"),
    [(201, "job"), (202, "job"), (203, "job"), (204, None), (206, "job")],
)
async def test_a_success_status_other_than_200_is_malformed(
    sim: EvsSimulator, client: EvsJobClient, job_id: str, status: int, body: str | None
) -> None:
    payload = orjson.dumps(job_json(job_id)) if body else b""
    sim.inject(job_id, Reply(status=status, body=payload))
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(job_id)
    assert f"HTTP {status}" in str(caught.value)


# -- HTTP that aiohttp cannot take -----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Padding": "x" * 20_000},
        {"Content-Encoding": "gzip"},  # a body that is not gzip at all
    ],
    ids=["over-long header", "undecodable gzip"],
)
async def test_broken_http_is_a_server_error_without_status(
    sim: EvsSimulator, client: EvsJobClient, job_id: str, headers: dict[str, str]
) -> None:
    sim.inject(job_id, Reply(status=200, body=b"not gzip", headers=headers))
    with pytest.raises(ServerError) as caught:
        await client.get_job(job_id)
    assert (caught.value.status, caught.value.job_id) == (None, job_id)


# -- redirects, slow servers, Retry-After ---------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_host_is_not_followed(
    sim: EvsSimulator, client: EvsJobClient, job_id: str, status: int
) -> None:
    async with EvsSimulator(token=sim.token, project_id=sim.project_id) as elsewhere:
        target = elsewhere.add_job(timeline=[(0, "SUCCESS")])
        location = f"{elsewhere.endpoint}/v1/{sim.project_id}/jobs/{target}"
        sim.inject(job_id, Reply(status=status, body=b"", headers={"Location": location}))
        with pytest.raises(EvsApiError) as caught:
            await client.get_job(job_id)
        assert list(elsewhere.requests) == []
    error = caught.value
    assert type(error) is EvsApiError
    assert (error.status, error.job_id) == (status, job_id)
    assert "redirect" in error.message


async def test_slow_reply_beyond_the_request_timeout_is_a_server_error(
    sim: EvsSimulator, job_id: str
) -> None:
    sim.inject(job_id, Reply(delay=5.0))
    auth = TokenAuth(sim.token)
    async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth, timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            await client.get_job(job_id)
        elapsed = time.monotonic() - started
    assert (caught.value.status, caught.value.job_id) == (None, job_id)
    assert "TimeoutError" in caught.value.message
    assert elapsed < 4.0  # gave up long before the 5 s answer; generous for slow machines


async def test_a_body_trickling_past_the_request_timeout_is_a_server_error() -> None:
    # Headers at once, then a byte every 50 ms: the timeout covers the body, not only
    # the wait for the headers.
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(200):  # 10 s in all, far beyond the client's timeout
                await response.write(b" ")
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        return response

    async with serve(trickle) as endpoint, EvsJobClient(endpoint, "p1", timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            await client.get_job("j1")
        elapsed = time.monotonic() - started
    assert (caught.value.status, caught.value.job_id) == (None, "j1")
    assert elapsed < 5.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-5", 0.0),
        ("-inf", 0.0),
        ("1e9", 600.0),
        ("inf", 600.0),
        ("1e400", 600.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 600.0),
        ("nan", None),
        ("0x10", None),
        ("", None),
        ("Mon, 01 Jan 2024 00:00:00 +9999", None),  # an impossible offset
    ],
)
async def test_hostile_retry_after_is_clamped_to_600_s_or_ignored(
    sim: EvsSimulator, client: EvsJobClient, job_id: str, value: str, expected: float | None
) -> None:
    sim.inject(job_id, Reply(status=429, headers={"Retry-After": value}))
    with pytest.raises(ThrottledError) as caught:
        await client.get_job(job_id)
    assert caught.value.retry_after == expected
