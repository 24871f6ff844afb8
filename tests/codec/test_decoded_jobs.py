"""What a decoded job keeps (many are kept at once, one per watched job): strings shared
between jobs, within a bound, and exactly the fields its constructor takes."""

from __future__ import annotations

import json
import subprocess
import sys

import attrs
import pytest

from evs_job_watch import Job, JobEntities
from evs_job_watch._wire._codec import decode_job

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


# Disk types are shared through one table for the whole process, so this test runs in a
# fresh interpreter: filling the table here would leave every later test a full one, where
# a type seen for the first time is no longer shared.
INVENTING = """
import json
from evs_job_watch._wire._codec import decode_job

def kind(name):
    body = json.dumps({"job_id": "j1", "status": "RUNNING", "entities": {"volume_type": name}})
    return decode_job(body.encode()).entities.volume_type

known = kind("GPSSD")
shared = 0  # invented types shared, until the first that is not
while shared < 10_000 and kind(f"type-{shared}") is kind(f"type-{shared}"):
    shared += 1
later = [f"type-{n}" for n in range(shared, shared + 100)]
print(json.dumps({
    "shared": shared,
    "later_shared": sum(kind(name) is kind(name) for name in later),
    "all_right": all(kind(f"type-{n}") == f"type-{n}" for n in range(shared + 100)),
    "known_kept": kind("GPSSD") is known,
}))
"""


def test_a_server_inventing_disk_types_cannot_grow_the_shared_ones() -> None:
    result = subprocess.run(
        [sys.executable, "-c", INVENTING], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert 10 <= seen["shared"] <= 1000  # room for the API's handful, and a bound
    assert seen["later_shared"] == 0  # once full, the shared types stop growing for good
    assert seen["all_right"]  # every job still has its own disk type, shared or not
    assert seen["known_kept"]  # and a type shared before the flood still is


def test_a_decoded_job_is_the_job_its_constructor_makes() -> None:
    # The codec gives each of exactly these fields a hook that checks its JSON type: a
    # field added to a model needs one there too (cattrs would otherwise convert it).
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
