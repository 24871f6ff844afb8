"""Encoding a job and decoding it back gives the same job, with the API's time format."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given

from evs_job_watch import Job
from evs_job_watch._wire._codec import decode_job, encode_job

from .samples import RUNNING_CREATE
from .strategies import ROUND_TRIP, jobs


@ROUND_TRIP
@given(jobs)
def test_decode_inverts_encode_and_gives_aware_utc_times(job: Job) -> None:
    decoded = decode_job(encode_job(job))
    assert decoded == job
    for one in (decoded, *decoded.sub_jobs):
        for moment in (one.begin_time, one.end_time):
            assert moment is None or moment.utcoffset() == timedelta(0)


def test_encode_writes_the_api_time_format_and_empty_end_time() -> None:
    job = decode_job(RUNNING_CREATE)
    data = json.loads(encode_job(job))
    assert data["begin_time"] == "2024-03-14T09:21:05.417Z"
    assert data["end_time"] == ""
    assert data["error_code"] is None
