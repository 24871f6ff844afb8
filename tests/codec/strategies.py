"""Hypothesis settings and strategies of the codec tests: jobs for round trips, and JSON and
job-like objects for the fuzz."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from evs_job_watch import ApiError, Job, JobEntities, JobStatus, JobType

from .samples import UTC

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
