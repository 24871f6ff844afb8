"""REFERENCE ONLY, not the library: the hand-written decoding that `evs_job_watch` used
before issue 21 (commit 699b71e, `evs_job_watch/_wire/_codec.py`), copied unchanged but
for this docstring, the imports and the parts that are not decoding.

`decode.py` times the library's `decode_job` (orjson, then the cattrs converter's
generated hooks) against this `decode_job` on the same bodies, in the same run. Nothing
else may import it: it is frozen as it was, so the ratio keeps meaning the same thing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn

from evs_job_watch import (
    ApiError,
    Job,
    JobEntities,
    JobStatus,
    JobType,
    MalformedResponseError,
)
from evs_job_watch._models import NO_ENTITIES, NO_EXTRA

__all__ = ["decode_job"]


_TEXT_KEYS = ("volume_id", "name", "volume_type", "server_id", "nic_id")
_ENTITY_KEYS = frozenset((*_TEXT_KEYS, "size", "sub_jobs"))


def _strict_str(value: Any, _: object) -> str:
    # cattrs' default would turn 5 into "5"; a job body with the wrong types is malformed.
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_int(value: Any, _: object) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


# Disk types seen, each kept once rather than once per watched job (bounded: the API
# sends a handful, and a server inventing new ones must not grow the process).
_KINDS: dict[Any, str] = {}
_MAX_KINDS = 256

_STATUSES: dict[Any, JobStatus] = {member.value: member for member in JobStatus}
_TYPES: dict[Any, JobType] = {member.value: member for member in JobType}


# Dict lookups first: an enum call costs three times as much, on every poll.
def _job_type(value: Any) -> JobType:
    return JobType(_strict_str(value, None))


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    kind = _strict_str(value, None)
    if len(_KINDS) < _MAX_KINDS:
        _KINDS[kind] = kind
    return kind


@functools.lru_cache(maxsize=4096)
def _parse_time_text(text: str) -> datetime:
    """An API time as an aware UTC datetime (cached: a job's begin_time repeats every poll)."""
    if type(text) is not str:
        raise TypeError(f"a time must be a string, got {type(text).__name__}")
    if text[-1:] in "Zz":
        # Python 3.10's fromisoformat does not read the "Z" suffix; 3.11's does.
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of a slotted attrs class's fields, in field order."""
    return tuple(getattr(cls, field.name).__set__ for field in attrs.fields(cls))


# A frozen attrs __init__ sets each field through object.__setattr__; decoding builds a
# Job and its JobEntities per job in a body, so it fills their slots directly instead
# (test_codec checks that these follow the classes' fields).
_new = object.__new__
_set_job = _slot_setters(Job)
_set_entities = _slot_setters(JobEntities)
(
    _set_id,
    _set_status,
    _set_type,
    _set_begin,
    _set_end,
    _set_code,
    _set_reason,
    _set_entities_of,
    _set_error,
) = _set_job
(
    _set_volume,
    _set_name,
    _set_size,
    _set_kind,
    _set_server,
    _set_nic,
    _set_subs,
    _set_extra,
) = _set_entities


def _job(value: Any, _: object = None) -> Job:
    return _job_of(value, None)


def _job_of(value: Any, job_id: str | None) -> Job:
    # Written out flat, with the checks inline: a batch body holds a job per disk, and
    # this runs for every one of them on every poll that changed.
    if type(value) is not dict:
        raise TypeError(f"a job must be an object, got {type(value).__name__}")
    get = value.get
    raw_id, status, job_type = value["job_id"], value["status"], get("job_type")
    begin, end = get("begin_time"), get("end_time")
    code, reason = get("error_code"), get("fail_reason")
    entities, error = get("entities"), get("error")
    if type(raw_id) is not str:
        raise TypeError(f"job_id must be a string, got {type(raw_id).__name__}")
    job = _new(Job)
    # The caller's own string when equal: a watched job then keeps one copy of its id.
    _set_id(job, job_id if raw_id == job_id else raw_id)
    _set_status(job, _STATUSES.get(status) or JobStatus(_strict_str(status, None)))
    _set_type(job, None if job_type is None else _TYPES.get(job_type) or _job_type(job_type))
    _set_begin(job, None if begin is None or begin == "" else _parse_time_text(begin))
    _set_end(job, None if end is None or end == "" else _parse_time_text(end))
    _set_code(job, code if code is None or type(code) is str else _strict_str(code, None))
    _set_reason(job, reason if reason is None or type(reason) is str else _strict_str(reason, None))
    _set_entities_of(job, NO_ENTITIES if entities is None else _entities(entities))
    _set_error(
        job,
        None if error is None else _structure_api_error(_object(error, "error"), ApiError),
    )
    return job


def _object(value: Any, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise TypeError(f"{what} must be an object, got {type(value).__name__}")
    return value


def _entities(value: Any) -> JobEntities:
    if type(value) is not dict:
        raise TypeError(f"entities must be an object, got {type(value).__name__}")
    get = value.get
    sub_jobs = get("sub_jobs")
    if sub_jobs is None:
        sub_jobs = ()
    elif type(sub_jobs) is list:
        sub_jobs = tuple([_job_of(item, None) for item in sub_jobs])
    else:
        raise TypeError(f"sub_jobs must be a list, got {type(sub_jobs).__name__}")
    volume_id, name, size, kind = get("volume_id"), get("name"), get("size"), get("volume_type")
    server, nic = get("server_id"), get("nic_id")
    entities = _new(JobEntities)
    _set_volume(
        entities,
        volume_id if volume_id is None or type(volume_id) is str else _strict_str(volume_id, None),
    )
    _set_name(entities, name if name is None or type(name) is str else _strict_str(name, None))
    _set_size(entities, size if size is None or type(size) is int else _strict_int(size, None))
    _set_kind(entities, _KINDS.get(kind) or _kind(kind))
    _set_server(
        entities, server if server is None or type(server) is str else _strict_str(server, None)
    )
    _set_nic(entities, nic if nic is None or type(nic) is str else _strict_str(nic, None))
    _set_subs(entities, sub_jobs)
    _set_extra(
        entities,
        NO_EXTRA
        if _ENTITY_KEYS.issuperset(value)
        # What JobEntities' converter would make of it: a read-only view of a fresh dict.
        else MappingProxyType({k: v for k, v in value.items() if k not in _ENTITY_KEYS}),
    )
    return entities


def _make_converter() -> cattrs.Converter:
    # The Job hook is written out by hand: cattrs' generated one costs twice as much per
    # body, and a batch body holds a job per disk. The other models keep generated hooks.
    converter = cattrs.Converter(detailed_validation=False)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(Job, _job)
    converter.register_structure_hook(ApiError, make_dict_structure_fn(ApiError, converter))
    return converter


_converter = _make_converter()
_structure_api_error = _converter.get_structure_hook(ApiError)
_BROKEN = (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError)


def job_from_data(data: Any, *, body: bytes = b"", job_id: str | None = None) -> Job:
    """Structure parsed JSON into a Job, or raise MalformedResponseError."""
    if type(data) is not dict:
        raise MalformedResponseError(
            f"expected a JSON object, got {type(data).__name__}", body=body, job_id=job_id
        )
    try:
        return _job_of(data, job_id)  # the converter's Job hook, without its dispatch
    except _BROKEN as exc:
        raise _not_a_job(exc, body, job_id) from None


def decode_job(body: bytes, job_id: str | None = None) -> Job:
    """Response bytes to a Job; anything that is not a job is a MalformedResponseError.

    ``job_id``: the id asked for, named in errors; the Job shares that string when equal.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponseError(f"not JSON ({exc})", body=body, job_id=job_id) from None
    if type(data) is not dict:
        return job_from_data(data, body=body, job_id=job_id)  # raises, saying what it got
    try:
        return _job_of(data, job_id)
    except _BROKEN as exc:
        raise _not_a_job(exc, body, job_id) from None


def _not_a_job(exc: Exception, body: bytes, job_id: str | None) -> MalformedResponseError:
    reason = "too deeply nested" if isinstance(exc, RecursionError) else exc
    return MalformedResponseError(
        f"not a job ({type(exc).__name__}: {reason})", body=body, job_id=job_id
    )
