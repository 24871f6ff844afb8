"""What the codec tolerates: unknown statuses, job types and entity keys, missing optional
fields, times in any offset or none."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from evs_job_watch import Job, JobStatus, JobType, MalformedResponseError
from evs_job_watch._wire._codec import decode_job, encode_job

from .samples import job_bytes, utc


def test_unknown_status_type_and_entity_keys_are_kept() -> None:
    body = job_bytes(
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
    sub = job_bytes(
        job_id="s1",
        job_type="createSingleServer",
        status="SUCCESS",
        entities={"server_id": "srv-1", "nic_id": "nic-1"},
    )
    body = job_bytes(
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
        decode_job(job_bytes(entities={key: 5}))


def test_missing_optional_fields_decode_as_none() -> None:
    job = decode_job(b'{"job_id": "j1", "status": "INIT"}')
    assert job == Job(job_id="j1", status=JobStatus.INIT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-14T09:21:05.417Z", utc(2024, 3, 14, 9, 21, 5, 417000)),
        ("2024-03-14T11:21:05.417+02:00", utc(2024, 3, 14, 9, 21, 5, 417000)),
        ("2024-03-14T04:21:05.417-05:00", utc(2024, 3, 14, 9, 21, 5, 417000)),
        ("2024-03-14T00:30:00.000+01:00", utc(2024, 3, 13, 23, 30, 0, 0)),
        ("2024-03-14T09:21:05.417", utc(2024, 3, 14, 9, 21, 5, 417000)),
        ("2024-03-14T09:21:05", utc(2024, 3, 14, 9, 21, 5)),
    ],
)
def test_times_are_converted_to_aware_utc(text: str, expected: datetime) -> None:
    job = decode_job(job_bytes(begin_time=text))
    assert job.begin_time == expected
    assert job.begin_time is not None
    assert job.begin_time.tzinfo is not None
    assert job.begin_time.utcoffset() == timedelta(0)
    # Same wall clock in UTC, not merely the same instant in another zone.
    assert job.begin_time.replace(tzinfo=None) == expected.replace(tzinfo=None)


def test_empty_and_null_times_are_none() -> None:
    job = decode_job(job_bytes(begin_time="", end_time=None))
    assert job.begin_time is None
    assert job.end_time is None


def test_a_disk_type_seen_for_the_first_time_is_kept_as_it_reads() -> None:
    # A type no earlier test has decoded in this process, so it is not in the codec's
    # table of known kinds yet.
    first = f"GPSSD-{id(object()):x}"
    for _ in range(2):  # the first sighting, then the table's copy
        job = decode_job(job_bytes(entities={"volume_id": "v1", "volume_type": first}))
        assert job.entities is not None and job.entities.volume_type == first
