"""The job models: open enums, read-only entities, frozen and hashable jobs."""

from __future__ import annotations

from datetime import datetime, timezone
from types import MappingProxyType

import attrs
import pytest

from evs_job_watch import ApiError, Job, JobEntities, JobStatus, JobType

BEGIN = datetime(2024, 3, 14, 9, 21, 5, 417000, tzinfo=timezone.utc)


def _job(job_id: str = "a1", status: JobStatus = JobStatus.RUNNING, **entities: object) -> Job:
    return Job(
        job_id=job_id,
        status=status,
        job_type=JobType.CREATE_VOLUME,
        begin_time=BEGIN,
        entities=JobEntities(**entities),  # type: ignore[arg-type]
    )


# -- JobStatus ----------------------------------------------------------------------------


def test_job_status_has_the_api_statuses_as_members() -> None:
    assert {member.value for member in JobStatus} == {
        "INIT",
        "RUNNING",
        "SUCCESS",
        "FAIL",
        "WAITING_EXECUTE",
        "LISTENING",
    }
    assert JobStatus("RUNNING") is JobStatus.RUNNING


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (JobStatus.INIT, False),
        (JobStatus.RUNNING, False),
        (JobStatus.SUCCESS, True),
        (JobStatus.FAIL, True),
        (JobStatus.WAITING_EXECUTE, False),
        (JobStatus.LISTENING, False),
    ],
)
def test_only_success_and_fail_are_terminal(status: JobStatus, terminal: bool) -> None:
    assert status.is_terminal is terminal
    assert status.is_known


def test_unknown_status_keeps_its_text_and_is_not_terminal() -> None:
    paused = JobStatus("PAUSED")
    assert paused.value == "PAUSED"
    assert str(paused) == "PAUSED"
    assert "PAUSED" in repr(paused)
    assert isinstance(paused, JobStatus)
    assert paused.is_terminal is False
    assert paused.is_known is False


def test_unknown_statuses_with_the_same_text_are_equal_and_hash_alike() -> None:
    assert JobStatus("PAUSED") == JobStatus("PAUSED")
    assert hash(JobStatus("PAUSED")) == hash(JobStatus("PAUSED"))
    assert len({JobStatus("PAUSED"), JobStatus("PAUSED")}) == 1
    assert JobStatus("PAUSED") != JobStatus("STOPPED")
    assert JobStatus("PAUSED") != JobStatus.RUNNING


def test_unknown_status_spelled_like_a_known_one_in_lower_case_is_not_terminal() -> None:
    # The API's statuses are upper case; "success" is not SUCCESS and must not end a watch.
    assert JobStatus("success").is_terminal is False


# -- JobType ------------------------------------------------------------------------------


def test_job_type_members_carry_the_api_strings() -> None:
    assert {member.name: member.value for member in JobType} == {
        "CREATE_VOLUME": "createVolume",
        "BATCH_CREATE_VOLUME": "batchCreateVolume",
        "DELETE_VOLUME": "deleteVolume",
        "EXTEND_VOLUME": "extendVolume",
        "BULK_DELETE_VOLUME": "bulkDeleteVolume",
        "DELETE_SINGLE_VOLUME": "deleteSingleVolume",
        "RETYPE_VOLUME": "retypeVolume",
        "CREATE_SERVER": "createServer",
        "CREATE_SINGLE_SERVER": "createSingleServer",
        "DELETE_SERVER": "deleteServer",
    }
    assert JobType("createVolume") is JobType.CREATE_VOLUME
    assert JobType.CREATE_VOLUME.is_known


def test_unknown_job_type_is_kept_as_text() -> None:
    kind = JobType("snapshotVolume")
    assert kind.value == "snapshotVolume"
    assert str(kind) == "snapshotVolume"
    assert kind.is_known is False
    assert kind == JobType("snapshotVolume")


def test_unknown_job_type_named_like_a_member_is_not_known() -> None:
    # "CREATE_VOLUME" is a member's *name*, not an API string: it is an unknown type.
    kind = JobType("CREATE_VOLUME")
    assert kind != JobType.CREATE_VOLUME
    assert kind.is_known is False


# -- JobEntities --------------------------------------------------------------------------


def test_entities_extra_is_read_only() -> None:
    entities = JobEntities(extra={"availability_zone": "eu-de-01"})
    with pytest.raises(TypeError):
        entities.extra["availability_zone"] = "eu-de-02"  # type: ignore[index]
    with pytest.raises(TypeError):
        del entities.extra["availability_zone"]  # type: ignore[attr-defined]
    assert dict(entities.extra) == {"availability_zone": "eu-de-01"}


def test_entities_do_not_change_when_the_callers_dict_changes_later() -> None:
    given = {"availability_zone": "eu-de-01"}
    entities = JobEntities(extra=given)
    given["availability_zone"] = "eu-de-02"
    given["more"] = 1
    assert dict(entities.extra) == {"availability_zone": "eu-de-01"}


def test_entities_do_not_change_when_the_dict_behind_a_callers_proxy_changes() -> None:
    given = {"availability_zone": "eu-de-01"}
    entities = JobEntities(extra=MappingProxyType(given))
    given["availability_zone"] = "eu-de-02"
    assert dict(entities.extra) == {"availability_zone": "eu-de-01"}


def test_entities_default_to_empty() -> None:
    entities = JobEntities()
    assert entities.sub_jobs == ()
    assert dict(entities.extra) == {}
    assert entities.volume_id is entities.name is entities.size is entities.volume_type is None


# -- Job ----------------------------------------------------------------------------------


def test_job_sub_jobs_are_the_entities_sub_jobs() -> None:
    first = _job("s1", JobStatus.SUCCESS)
    second = _job("s2", JobStatus.RUNNING)
    batch = Job(
        job_id="b1",
        status=JobStatus.RUNNING,
        job_type=JobType.BATCH_CREATE_VOLUME,
        entities=JobEntities(sub_jobs=(first, second)),
    )
    assert batch.sub_jobs == (first, second)
    assert _job().sub_jobs == ()


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (JobStatus.SUCCESS, True),
        (JobStatus.FAIL, True),
        (JobStatus.RUNNING, False),
        (JobStatus.INIT, False),
        (JobStatus("PAUSED"), False),
    ],
)
def test_job_is_terminal_follows_its_status(status: JobStatus, terminal: bool) -> None:
    assert _job(status=status).is_terminal is terminal


def test_job_defaults_to_no_times_no_error_and_empty_entities() -> None:
    job = Job(job_id="a1", status=JobStatus.INIT)
    assert job.job_type is None
    assert job.begin_time is job.end_time is None
    assert job.error_code is job.fail_reason is job.error is None
    assert job.entities == JobEntities()


def test_jobs_with_equal_fields_are_equal_and_hash_alike() -> None:
    one = _job(volume_id="v1", size=10, extra={"tags": ["a", "b"], "zone": "eu-de-01"})
    two = _job(volume_id="v1", size=10, extra={"zone": "eu-de-01", "tags": ["a", "b"]})
    assert one == two
    assert one is not two
    assert hash(one) == hash(two)
    assert len({one, two}) == 1


def test_jobs_differing_in_any_field_are_not_equal() -> None:
    base = _job(extra={"zone": "eu-de-01"})
    assert base != attrs.evolve(base, status=JobStatus.SUCCESS)
    assert base != attrs.evolve(base, error=ApiError(code="EVS.2024", message="x"))
    assert base != _job(extra={"zone": "eu-de-02"})


def test_batch_jobs_with_sub_jobs_are_hashable() -> None:
    sub = _job("s1", extra={"list": [1, 2]})
    batch = Job(job_id="b1", status=JobStatus.RUNNING, entities=JobEntities(sub_jobs=(sub,)))
    assert hash(batch) == hash(attrs.evolve(batch))


def test_models_are_frozen() -> None:
    job = _job()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.status = JobStatus.SUCCESS  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.entities.size = 5  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ApiError("c", "m").code = "d"  # type: ignore[misc]
