"""Decoding the EVS API reference's job bodies, and reading the API's error bodies."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from evs_job_watch import ApiError, Job, JobEntities, JobStatus, JobType
from evs_job_watch._wire._codec import decode_job, error_fields

from .samples import BATCH_SUCCESS, FAILED_CREATE, RUNNING_CREATE, job_bytes, utc

# -- the three shapes of the EVS API reference --------------------------------------------


def test_decodes_a_running_create_volume_job() -> None:
    job = decode_job(RUNNING_CREATE)
    assert job == Job(
        job_id="8aa1e6c27e1b4f2c9d3e0f5a6b7c8d9e",
        status=JobStatus.RUNNING,
        job_type=JobType.CREATE_VOLUME,
        begin_time=utc(2024, 3, 14, 9, 21, 5, 417000),
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
    assert job.begin_time == utc(2024, 3, 14, 10, 0, 0, 875000)
    assert job.end_time == utc(2024, 3, 14, 10, 0, 32, 112000)
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
            begin_time=utc(2024, 3, 14, 10, 0, 1, 250000),
            end_time=utc(2024, 3, 14, 10, 0, 29, 30000),
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
            begin_time=utc(2024, 3, 14, 10, 0, 1, 260000),
            end_time=utc(2024, 3, 14, 10, 0, 31, 999000),
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
        begin_time=utc(2024, 3, 15, 22, 59, 58, 1000),
        end_time=utc(2024, 3, 15, 23, 0, 3, 500000),
        error_code="EVS.2024",
        fail_reason="EbsCreateVolumeTask-fail:volume capacity is insufficient",
        entities=JobEntities(name="too-big-disk", size=200, volume_type="SAS"),
    )
    assert job.is_terminal


def test_decodes_an_error_object_inside_a_job() -> None:
    job = decode_job(job_bytes(error={"code": "EVS.2024", "message": "no capacity"}))
    assert job.error == ApiError(code="EVS.2024", message="no capacity")


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
