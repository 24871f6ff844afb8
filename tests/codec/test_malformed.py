"""Malformed job bodies, listed and fuzzed: each gives a MalformedResponseError with the job
id and a short excerpt, never another exception."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evs_job_watch import Job, MalformedResponseError
from evs_job_watch._wire._codec import decode_job

from .samples import RUNNING_CREATE
from .strategies import FUZZ, job_likes, json_values


def _nested_sub_jobs(depth: int) -> bytes:
    opening = '{"job_id": "j1", "status": "RUNNING", "entities": {"sub_jobs": ['
    closing = "]}}"
    return (opening * depth + '{"job_id": "j1", "status": "RUNNING"}' + closing * depth).encode()


MALFORMED = {
    "not JSON": b"<html><body>502 Bad Gateway</body></html>",
    "truncated JSON": RUNNING_CREATE[:60],
    "empty body": b"",
    "invalid UTF-8": b'{"job_id": "j1", "status": "RUN\xff\xfeNING"}',
    "a JSON list": b'[{"job_id": "j1", "status": "RUNNING"}]',
    "a JSON string": b'"RUNNING"',
    "JSON null": b"null",
    "status a number": b'{"job_id": "j1", "status": 5}',
    "status an object": b'{"job_id": "j1", "status": {"a": 1}}',
    "status null": b'{"job_id": "j1", "status": null}',
    "job_id a number": b'{"job_id": 5, "status": "RUNNING"}',
    "job_id null": b'{"job_id": null, "status": "RUNNING"}',
    "job_id missing": b'{"status": "RUNNING"}',
    "status missing": b'{"job_id": "j1"}',
    "job_type a number": b'{"job_id": "j1", "status": "RUNNING", "job_type": 3}',
    "sub_jobs a string": b'{"job_id": "j1", "status": "RUNNING", "entities": {"sub_jobs": "x"}}',
    "sub_jobs holding a string": (
        b'{"job_id": "j1", "status": "RUNNING", "entities": {"sub_jobs": ["x"]}}'
    ),
    "sub-job without status": (
        b'{"job_id": "j1", "status": "RUNNING", "entities": {"sub_jobs": [{"job_id": "s"}]}}'
    ),
    "entities a list": b'{"job_id": "j1", "status": "RUNNING", "entities": []}',
    "entities a string": b'{"job_id": "j1", "status": "RUNNING", "entities": "x"}',
    "size a string": b'{"job_id": "j1", "status": "RUNNING", "entities": {"size": "40"}}',
    "size a float": b'{"job_id": "j1", "status": "RUNNING", "entities": {"size": 40.5}}',
    "size a boolean": b'{"job_id": "j1", "status": "RUNNING", "entities": {"size": true}}',
    "volume_id a number": b'{"job_id": "j1", "status": "RUNNING", "entities": {"volume_id": 1}}',
    "bad timestamp": b'{"job_id": "j1", "status": "RUNNING", "begin_time": "yesterday"}',
    "timestamp a number": b'{"job_id": "j1", "status": "RUNNING", "begin_time": 1710408065}',
    "timestamp just Z": b'{"job_id": "j1", "status": "RUNNING", "end_time": "Z"}',
    "timestamp before year 1 in UTC": (
        b'{"job_id": "j1", "status": "RUNNING", "begin_time": "0001-01-01T00:30:00.000+01:00"}'
    ),
    "timestamp after year 9999 in UTC": (
        b'{"job_id": "j1", "status": "RUNNING", "end_time": "9999-12-31T23:30:00.000-01:00"}'
    ),
    "error_code a number": b'{"job_id": "j1", "status": "FAIL", "error_code": 2024}',
    "fail_reason a list": b'{"job_id": "j1", "status": "FAIL", "fail_reason": ["x"]}',
    "error a number": b'{"job_id": "j1", "status": "FAIL", "error": 5}',
    "error code a number": b'{"job_id": "j1", "status": "FAIL", "error": {"code": 5}}',
    "deeply nested sub_jobs (2000 levels)": _nested_sub_jobs(2000),
    "deeply nested arrays": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_body_raises_malformed_response_error(body: bytes) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        decode_job(body, job_id="j1")
    assert caught.value.job_id == "j1"
    assert caught.value.excerpt == body[:200].decode("utf-8", "replace")


def test_malformed_response_error_shows_a_short_excerpt_of_the_body() -> None:
    body = b'{"not": "a job", "padding": "' + b"x" * 5000 + b'"}'
    with pytest.raises(MalformedResponseError) as caught:
        decode_job(body, job_id="j1")
    error = caught.value
    assert error.excerpt.startswith('{"not": "a job"')
    assert len(error.excerpt) <= 200
    assert "j1" in str(error)
    assert len(str(error)) < 1000


def _at_stack_depth(frames: int, call: Callable[[], Job]) -> Job:
    return call() if frames == 0 else _at_stack_depth(frames - 1, call)


def test_sub_jobs_nested_past_the_recursion_limit_raise_malformed() -> None:
    # 330 levels parse as JSON (orjson's limit is 1024 levels) but need about a thousand
    # frames to structure; starting deep in the stack makes sure the limit is reached.
    body = _nested_sub_jobs(330)
    with pytest.raises(MalformedResponseError) as caught:
        _at_stack_depth(sys.getrecursionlimit() - 300, lambda: decode_job(body, job_id="j1"))
    assert caught.value.job_id == "j1"


def test_nested_sub_jobs_within_limits_decode() -> None:
    job = decode_job(_nested_sub_jobs(50))
    depth = 0
    while job.sub_jobs:
        (job,) = job.sub_jobs
        depth += 1
    assert depth == 50


# -- fuzzed input -------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_to_a_job_or_raise_malformed(body: bytes) -> None:
    assert_job_or_malformed(body)


@FUZZ
@given(json_values)
def test_arbitrary_json_decodes_to_a_job_or_raises_malformed(value: Any) -> None:
    body = json.dumps(value).encode()
    assert_job_or_malformed(body)


@FUZZ
@given(job_likes)
def test_arbitrary_job_like_objects_decode_to_a_job_or_raise_malformed(value: Any) -> None:
    body = json.dumps(value).encode()
    assert_job_or_malformed(body)


def assert_job_or_malformed(body: bytes) -> None:
    """``body`` decodes to a Job or raises MalformedResponseError: nothing else."""
    try:
        job = decode_job(body)
    except MalformedResponseError:
        return
    assert isinstance(job, Job)
