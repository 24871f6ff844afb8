"""EvsJobClient over a mocked aiohttp: the request sent, the job decoded, a body seen before
not decoded again, and the cap on a body's size."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from evs_job_watch import (
    EvsApiError,
    EvsJobClient,
    Job,
    JobStatus,
    MalformedResponseError,
)

from ..hostile.answers import MIB, job_json, padded_job
from .mocked import ENDPOINT, JOB, JOB_URL, PROJECT, api_error, requests_made

# -- a successful answer ------------------------------------------------------------------


async def test_get_job_returns_the_decoded_job(mocked: aioresponses, client: EvsJobClient) -> None:
    mocked.get(JOB_URL, payload=job_json(JOB, status="SUCCESS"))
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
    mocked.get(JOB_URL, payload=job_json(JOB))
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
    mocked.get(url, payload=job_json(JOB))
    async with EvsJobClient(f"{ENDPOINT}/evs/", PROJECT) as client:
        assert (await client.get_job(JOB)).job_id == JOB
    assert [str(u) for _, u, _ in requests_made(mocked)] == [url]


# -- polling: a body seen before is not decoded again -------------------------------------


async def test_poll_job_gives_the_last_answer_back_for_the_same_body(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, body=json.dumps(job_json(JOB)), repeat=True)
    first = await client.poll_job(JOB)
    again = await client.poll_job(JOB, first)
    assert again is first
    assert first.job.status is JobStatus.RUNNING
    assert len(requests_made(mocked)) == 2


async def test_poll_job_decodes_a_body_that_changed_anywhere(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    before = job_json(JOB)
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
        (api_error("EVS.9876", "the service says no"), EvsApiError),
        (job_json("ffffffffffffffffffffffffffffffff"), MalformedResponseError),
        ({"volumes": []}, MalformedResponseError),
    ],
    ids=["error object", "another job", "not a job"],
)
async def test_poll_job_checks_a_changed_body_as_get_job_does(
    mocked: aioresponses, client: EvsJobClient, body: dict[str, Any], error: type[Exception]
) -> None:
    mocked.get(JOB_URL, body=json.dumps(job_json(JOB)))
    mocked.get(JOB_URL, body=json.dumps(body))
    first = await client.poll_job(JOB)
    with pytest.raises(error) as caught:
        await client.poll_job(JOB, first)
    assert caught.value.job_id == JOB  # type: ignore[attr-defined]


# -- the size of a body -------------------------------------------------------------------


@pytest.mark.parametrize("declared", [False, True], ids=["streamed", "content-length"])
async def test_body_over_one_mebibyte_is_malformed(
    mocked: aioresponses, client: EvsJobClient, declared: bool
) -> None:
    body = padded_job(JOB, MIB + 1)
    headers = {"Content-Length": str(len(body))} if declared else {}
    mocked.get(JOB_URL, body=body, headers=headers)
    with pytest.raises(MalformedResponseError) as caught:
        await client.get_job(JOB)
    assert caught.value.job_id == JOB


async def test_body_of_exactly_one_mebibyte_is_read(
    mocked: aioresponses, client: EvsJobClient
) -> None:
    mocked.get(JOB_URL, body=padded_job(JOB, MIB))
    assert (await client.get_job(JOB)).job_id == JOB
