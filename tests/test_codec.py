"""Decoding job bodies: the API's examples, tolerance, round trips and malformed input."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evs_job_watch import (
    ApiError,
    Job,
    JobEntities,
    JobStatus,
    JobType,
    MalformedResponseError,
    _codec,
)
from evs_job_watch._codec import decode_job, encode_job, error_fields

UTC = timezone.utc

# Deterministic, no example database written to disk, no deadline (no timing in tests).
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
ROUND_TRIP = settings(FUZZ, max_examples=200)

# -- the three shapes of the EVS API reference --------------------------------------------

RUNNING_CREATE = b"""
{
    "status": "RUNNING",
    "entities": {
        "volume_type": "SATA",
        "size": 40,
        "volume_id": "1d9a6a4e-0c6e-4b4b-a1f1-5e2d6f3b7a90",
        "name": "data-disk-01"
    },
    "job_id": "8aa1e6c27e1b4f2c9d3e0f5a6b7c8d9e",
    "job_type": "createVolume",
    "begin_time": "2024-03-14T09:21:05.417Z",
    "end_time": "",
    "error_code": null,
    "fail_reason": null
}
"""

BATCH_SUCCESS = b"""
{
    "status": "SUCCESS",
    "entities": {
        "sub_jobs": [
            {
                "status": "SUCCESS",
                "entities": {
                    "volume_type": "SSD",
                    "size": 10,
                    "volume_id": "0b7d1c3e-2f4a-4e5b-8c6d-7e8f9a0b1c2d",
                    "name": "batch-disk-0001"
                },
                "job_id": "1f0e2d3c4b5a69788796a5b4c3d2e1f0",
                "job_type": "createVolume",
                "begin_time": "2024-03-14T10:00:01.250Z",
                "end_time": "2024-03-14T10:00:29.030Z",
                "error_code": null,
                "fail_reason": null
            },
            {
                "status": "SUCCESS",
                "entities": {
                    "volume_type": "SSD",
                    "size": 10,
                    "volume_id": "5a6b7c8d-9e0f-4a1b-9c2d-3e4f5a6b7c8d",
                    "name": "batch-disk-0002"
                },
                "job_id": "2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5",
                "job_type": "createVolume",
                "begin_time": "2024-03-14T10:00:01.260Z",
                "end_time": "2024-03-14T10:00:31.999Z",
                "error_code": null,
                "fail_reason": null
            }
        ]
    },
    "job_id": "3c4d5e6f708192a3b4c5d6e7f8091a2b",
    "job_type": "batchCreateVolume",
    "begin_time": "2024-03-14T10:00:00.875Z",
    "end_time": "2024-03-14T10:00:32.112Z",
    "error_code": null,
    "fail_reason": null
}
"""

FAILED_CREATE = b"""
{
    "status": "FAIL",
    "entities": {
        "volume_type": "SAS",
        "size": 200,
        "name": "too-big-disk"
    },
    "job_id": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "job_type": "createVolume",
    "begin_time": "2024-03-15T22:59:58.001Z",
    "end_time": "2024-03-15T23:00:03.500Z",
    "error_code": "EVS.2024",
    "fail_reason": "EbsCreateVolumeTask-fail:volume capacity is insufficient"
}
"""


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _body(**fields: Any) -> bytes:
    job: dict[str, Any] = {"job_id": "j1", "status": "RUNNING", **fields}
    return json.dumps(job).encode()


def test_decodes_a_running_create_volume_job() -> None:
    job = decode_job(RUNNING_CREATE)
    assert job == Job(
        job_id="8aa1e6c27e1b4f2c9d3e0f5a6b7c8d9e",
        status=JobStatus.RUNNING,
        job_type=JobType.CREATE_VOLUME,
        begin_time=_utc(2024, 3, 14, 9, 21, 5, 417000),
        end_time=None,
        error_code=None,
        fail_reason=None,
        entities=JobEntities(
            volume_id="1d9a6a4e-0c6e-4b4b-a1f1-5e2d6f3b7a90",
            name="data-disk-01",
            size=40,
            volume_type="SATA",
        ),
        error=None,
    )
    assert job.status is JobStatus.RUNNING
    assert job.job_type is JobType.CREATE_VOLUME
    assert job.begin_time is not None
    assert job.begin_time.utcoffset() == timedelta(0)
    assert job.sub_jobs == ()
    assert dict(job.entities.extra) == {}
    assert not job.is_terminal


def test_decodes_a_successful_batch_job_with_its_sub_jobs_as_jobs() -> None:
    job = decode_job(BATCH_SUCCESS)
    assert job.job_id == "3c4d5e6f708192a3b4c5d6e7f8091a2b"
    assert job.status is JobStatus.SUCCESS
    assert job.job_type is JobType.BATCH_CREATE_VOLUME
    assert job.begin_time == _utc(2024, 3, 14, 10, 0, 0, 875000)
    assert job.end_time == _utc(2024, 3, 14, 10, 0, 32, 112000)
    assert job.error_code is None
    assert job.fail_reason is None
    assert job.error is None
    assert job.is_terminal
    assert job.entities.volume_id is job.entities.name is job.entities.size is None
    assert dict(job.entities.extra) == {}
    assert job.sub_jobs == (
        Job(
            job_id="1f0e2d3c4b5a69788796a5b4c3d2e1f0",
            status=JobStatus.SUCCESS,
            job_type=JobType.CREATE_VOLUME,
            begin_time=_utc(2024, 3, 14, 10, 0, 1, 250000),
            end_time=_utc(2024, 3, 14, 10, 0, 29, 30000),
            entities=JobEntities(
                volume_id="0b7d1c3e-2f4a-4e5b-8c6d-7e8f9a0b1c2d",
                name="batch-disk-0001",
                size=10,
                volume_type="SSD",
            ),
        ),
        Job(
            job_id="2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5",
            status=JobStatus.SUCCESS,
            job_type=JobType.CREATE_VOLUME,
            begin_time=_utc(2024, 3, 14, 10, 0, 1, 260000),
            end_time=_utc(2024, 3, 14, 10, 0, 31, 999000),
            entities=JobEntities(
                volume_id="5a6b7c8d-9e0f-4a1b-9c2d-3e4f5a6b7c8d",
                name="batch-disk-0002",
                size=10,
                volume_type="SSD",
            ),
        ),
    )
    assert all(isinstance(sub, Job) for sub in job.sub_jobs)


def test_decodes_a_failed_job_with_its_error_code_and_reason() -> None:
    job = decode_job(FAILED_CREATE)
    assert job == Job(
        job_id="9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        status=JobStatus.FAIL,
        job_type=JobType.CREATE_VOLUME,
        begin_time=_utc(2024, 3, 15, 22, 59, 58, 1000),
        end_time=_utc(2024, 3, 15, 23, 0, 3, 500000),
        error_code="EVS.2024",
        fail_reason="EbsCreateVolumeTask-fail:volume capacity is insufficient",
        entities=JobEntities(name="too-big-disk", size=200, volume_type="SAS"),
    )
    assert job.is_terminal


def test_decodes_an_error_object_inside_a_job() -> None:
    job = decode_job(_body(error={"code": "EVS.2024", "message": "no capacity"}))
    assert job.error == ApiError(code="EVS.2024", message="no capacity")


# -- tolerance ----------------------------------------------------------------------------


def test_unknown_status_type_and_entity_keys_are_kept() -> None:
    body = _body(
        status="PAUSED",
        job_type="snapshotVolume",
        entities={
            "volume_id": "v1",
            "availability_zone": "eu-de-01",
            "tags": {"team": "storage"},
            "count": [1, 2],
        },
    )
    job = decode_job(body)
    assert job.status == JobStatus("PAUSED")
    assert job.status.value == "PAUSED"
    assert not job.status.is_known
    assert not job.is_terminal
    assert job.job_type == JobType("snapshotVolume")
    assert job.job_type is not None
    assert not job.job_type.is_known
    assert job.entities.volume_id == "v1"
    assert dict(job.entities.extra) == {
        "availability_zone": "eu-de-01",
        "tags": {"team": "storage"},
        "count": [1, 2],
    }


def test_decodes_an_ecs_server_create_with_server_and_nic_ids() -> None:
    sub = _body(
        job_id="s1",
        job_type="createSingleServer",
        status="SUCCESS",
        entities={"server_id": "srv-1", "nic_id": "nic-1"},
    )
    body = _body(
        job_type="createServer",
        status="RUNNING",
        entities={"sub_jobs_total": 1, "sub_jobs": [json.loads(sub)]},
    )
    job = decode_job(body)
    assert job.job_type is JobType.CREATE_SERVER
    assert dict(job.entities.extra) == {"sub_jobs_total": 1}
    [single] = job.sub_jobs
    assert single.job_type is JobType.CREATE_SINGLE_SERVER
    assert (single.entities.server_id, single.entities.nic_id) == ("srv-1", "nic-1")
    assert single.entities.volume_id is None and not single.entities.extra
    assert decode_job(encode_job(job)) == job


@pytest.mark.parametrize("key", ["server_id", "nic_id"])
def test_a_server_or_nic_id_that_is_not_text_is_malformed(key: str) -> None:
    with pytest.raises(MalformedResponseError):
        decode_job(_body(entities={key: 5}))


def test_missing_optional_fields_decode_as_none() -> None:
    job = decode_job(b'{"job_id": "j1", "status": "INIT"}')
    assert job == Job(job_id="j1", status=JobStatus.INIT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-14T09:21:05.417Z", _utc(2024, 3, 14, 9, 21, 5, 417000)),
        ("2024-03-14T11:21:05.417+02:00", _utc(2024, 3, 14, 9, 21, 5, 417000)),
        ("2024-03-14T04:21:05.417-05:00", _utc(2024, 3, 14, 9, 21, 5, 417000)),
        ("2024-03-14T00:30:00.000+01:00", _utc(2024, 3, 13, 23, 30, 0, 0)),
        ("2024-03-14T09:21:05.417", _utc(2024, 3, 14, 9, 21, 5, 417000)),
        ("2024-03-14T09:21:05", _utc(2024, 3, 14, 9, 21, 5)),
    ],
)
def test_times_are_converted_to_aware_utc(text: str, expected: datetime) -> None:
    job = decode_job(_body(begin_time=text))
    assert job.begin_time == expected
    assert job.begin_time is not None
    assert job.begin_time.tzinfo is not None
    assert job.begin_time.utcoffset() == timedelta(0)
    # Same wall clock in UTC, not merely the same instant in another zone.
    assert job.begin_time.replace(tzinfo=None) == expected.replace(tzinfo=None)


def test_empty_and_null_times_are_none() -> None:
    job = decode_job(_body(begin_time="", end_time=None))
    assert job.begin_time is None
    assert job.end_time is None


# -- what a decoded job keeps (many are kept at once, one per watched job) ----------------


def test_a_job_decoded_for_its_own_id_shares_that_string() -> None:
    asked = "".join(["8aa1e6c27e1b4f2c", "9d3e0f5a6b7c8d9e"])  # a string of its own
    job = decode_job(RUNNING_CREATE, job_id=asked)
    assert job.job_id == asked
    assert job.job_id is asked
    other = decode_job(RUNNING_CREATE, job_id="someone-else")
    assert other.job_id == asked
    assert other.job_id is not asked


def test_a_disk_type_is_kept_once_for_all_jobs() -> None:
    first = decode_job(_body(entities={"volume_type": "GPSSD"}))
    second = decode_job(_body(entities={"volume_type": "GPSSD"}))
    assert first.entities.volume_type == "GPSSD"
    assert first.entities.volume_type is second.entities.volume_type


def test_a_server_inventing_disk_types_cannot_grow_the_shared_ones() -> None:
    for n in range(2 * _codec._MAX_KINDS):
        job = decode_job(_body(entities={"volume_type": f"type-{n}"}))
        assert job.entities.volume_type == f"type-{n}"
    assert len(_codec._KINDS) <= _codec._MAX_KINDS


def test_a_decoded_job_is_the_job_its_constructor_makes() -> None:
    # The codec fills the models' slots directly, in field order: it unpacks exactly
    # these fields, so a field added to a model fails the import until it is added there.
    assert [f.name for f in attrs.fields(Job)] == [
        "job_id",
        "status",
        "job_type",
        "begin_time",
        "end_time",
        "error_code",
        "fail_reason",
        "entities",
        "error",
    ]
    assert [f.name for f in attrs.fields(JobEntities)] == [
        "volume_id",
        "name",
        "size",
        "volume_type",
        "server_id",
        "nic_id",
        "sub_jobs",
        "extra",
    ]
    body = _body(entities={"volume_type": "SSD", "size": 5, "zone": "eu-de-01"}, end_time="")
    for job in (decode_job(body), decode_job(BATCH_SUCCESS), decode_job(FAILED_CREATE)):
        entities = job.entities
        rebuilt = Job(
            **{f.name: getattr(job, f.name) for f in attrs.fields(Job) if f.name != "entities"},
            entities=JobEntities(
                **{f.name: getattr(entities, f.name) for f in attrs.fields(JobEntities)}
            ),
        )
        assert rebuilt == job
        assert hash(rebuilt) == hash(job)
        assert repr(rebuilt) == repr(job)
    assert dict(decode_job(body).entities.extra) == {"zone": "eu-de-01"}
    with pytest.raises(TypeError):
        decode_job(body).entities.extra["zone"] = "changed"  # type: ignore[index]


# -- round trips --------------------------------------------------------------------------

_KNOWN_ENTITY_KEYS = {
    "volume_id",
    "name",
    "size",
    "volume_type",
    "server_id",
    "nic_id",
    "sub_jobs",
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
texts = st.text(max_size=16)
optional_texts = st.none() | texts
moments = st.none() | st.datetimes(timezones=st.just(UTC))
statuses = st.sampled_from(list(JobStatus)) | texts.map(JobStatus)
job_types = st.none() | st.sampled_from(list(JobType)) | texts.map(JobType)
api_errors = st.none() | st.builds(ApiError, code=optional_texts, message=optional_texts)
extras = st.dictionaries(
    st.text(max_size=12).filter(lambda key: key not in _KNOWN_ENTITY_KEYS), json_values, max_size=4
)


def _jobs(sub_jobs: st.SearchStrategy[tuple[Job, ...]]) -> st.SearchStrategy[Job]:
    entities = st.builds(
        JobEntities,
        volume_id=optional_texts,
        name=optional_texts,
        size=st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
        volume_type=optional_texts,
        server_id=optional_texts,
        nic_id=optional_texts,
        sub_jobs=sub_jobs,
        extra=extras,
    )
    return st.builds(
        Job,
        job_id=texts,
        status=statuses,
        job_type=job_types,
        begin_time=moments,
        end_time=moments,
        error_code=optional_texts,
        fail_reason=optional_texts,
        entities=entities,
        error=api_errors,
    )


leaf_jobs = _jobs(st.just(()))
jobs = _jobs(st.lists(leaf_jobs, max_size=3).map(tuple))


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


# -- malformed input ----------------------------------------------------------------------


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


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_to_a_job_or_raise_malformed(body: bytes) -> None:
    try:
        job = decode_job(body)
    except MalformedResponseError:
        return
    assert isinstance(job, Job)


@FUZZ
@given(json_values)
def test_arbitrary_json_decodes_to_a_job_or_raises_malformed(value: Any) -> None:
    body = json.dumps(value).encode()
    try:
        job = decode_job(body)
    except MalformedResponseError:
        return
    assert isinstance(job, Job)


# Job-like objects: the right keys, any JSON (or time-like text) as their values, so the
# fuzz reaches past the first missing key.
time_texts = st.datetimes(
    timezones=st.builds(
        timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
    )
).map(datetime.isoformat) | st.datetimes().map(datetime.isoformat)
field_values = json_values | texts | time_texts
entity_likes = st.fixed_dictionaries(
    {},
    optional={
        "volume_id": field_values,
        "name": field_values,
        "size": field_values,
        "volume_type": field_values,
        "sub_jobs": json_values | st.lists(json_values, max_size=2),
        "other": json_values,
    },
)
job_likes = st.fixed_dictionaries(
    {"job_id": json_values | texts, "status": json_values | statuses.map(str)},
    optional={
        "job_type": json_values | job_types.map(str),
        "begin_time": field_values,
        "end_time": field_values,
        "error_code": field_values,
        "fail_reason": field_values,
        "entities": entity_likes | json_values,
        "error": json_values
        | st.fixed_dictionaries({}, optional={"code": json_values, "message": json_values}),
    },
)


@FUZZ
@given(job_likes)
def test_arbitrary_job_like_objects_decode_to_a_job_or_raise_malformed(value: Any) -> None:
    body = json.dumps(value).encode()
    try:
        job = decode_job(body)
    except MalformedResponseError:
        return
    assert isinstance(job, Job)


# -- error bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"error": {"message": "Invalid token.", "code": "EVS.0002"}},
            ("EVS.0002", "Invalid token."),
        ),
        (
            {"itemNotFound": {"message": "No jobs found.", "code": "Common.0011"}},
            ("Common.0011", "No jobs found."),
        ),
        (
            {"badRequest": {"message": "query job fail.", "code": "Common.0011"}},
            ("Common.0011", "query job fail."),
        ),
        (
            {
                "error_msg": "The throttling threshold has been reached",
                "error_code": "APIG.0308",
                "request_id": "c3a6e0b7d1f24e8a9b5c6d7e8f901a2b",
            },
            ("APIG.0308", "The throttling threshold has been reached"),
        ),
        ({"error": {"code": "EVS.5500"}}, ("EVS.5500", None)),
    ],
)
def test_error_fields_reads_every_error_shape(
    data: dict[str, Any], expected: tuple[str | None, str | None]
) -> None:
    assert error_fields(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        json.loads(RUNNING_CREATE),
        json.loads(FAILED_CREATE),
        json.loads(BATCH_SUCCESS),
        {"job_id": "j1"},
        {"only": "one key"},
        [],
        None,
        "error",
    ],
)
def test_error_fields_is_none_for_a_job_or_other_body(data: Any) -> None:
    assert error_fields(data) is None
