"""What a decoded job keeps (many are kept at once, one per watched job): strings shared
between jobs, within a bound, and exactly the fields its constructor takes."""

from __future__ import annotations

import attrs
import pytest

from evs_job_watch import Job, JobEntities, _codec
from evs_job_watch._codec import decode_job

from .samples import BATCH_SUCCESS, FAILED_CREATE, RUNNING_CREATE, job_bytes


def test_a_job_decoded_for_its_own_id_shares_that_string() -> None:
    asked = "".join(["8aa1e6c27e1b4f2c", "9d3e0f5a6b7c8d9e"])  # a string of its own
    job = decode_job(RUNNING_CREATE, job_id=asked)
    assert job.job_id == asked
    assert job.job_id is asked
    other = decode_job(RUNNING_CREATE, job_id="someone-else")
    assert other.job_id == asked
    assert other.job_id is not asked


def test_a_disk_type_is_kept_once_for_all_jobs() -> None:
    first = decode_job(job_bytes(entities={"volume_type": "GPSSD"}))
    second = decode_job(job_bytes(entities={"volume_type": "GPSSD"}))
    assert first.entities.volume_type == "GPSSD"
    assert first.entities.volume_type is second.entities.volume_type


def test_a_server_inventing_disk_types_cannot_grow_the_shared_ones() -> None:
    for n in range(2 * _codec._MAX_KINDS):
        job = decode_job(job_bytes(entities={"volume_type": f"type-{n}"}))
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
    body = job_bytes(entities={"volume_type": "SSD", "size": 5, "zone": "eu-de-01"}, end_time="")
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
