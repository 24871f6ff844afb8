"""Job bodies to models and back.

Decoding: orjson parses the bytes, then one private cattrs Converter structures them into
``Job`` (sub-jobs and entities included) with hooks that ``cattrs.gen`` generated for
``Job``, ``JobEntities`` and ``ApiError``, each field overridden by a small hook of ours
that checks its JSON type (``decode_job``, the one entry point). Encoding is written by
hand in the API's own format (``encode_job``). Also here: ``Answer``, a decoded body and
its hash, so an unchanged body is not decoded again; and ``error_fields``, the code and
message of the API's error bodies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, override

from .._errors import MalformedResponseError
from .._models import NO_ENTITIES, ApiError, Job, JobEntities, JobStatus, JobType

__all__ = [
    "Answer",
    "answer_from",
    "decode_job",
    "encode_job",
    "error_fields",
    "job_from_data",
    "loads",
]

T = TypeVar("T")


@attrs.frozen(slots=True)
class Answer:
    """A decoded answer of the job query, and what tells its body again without decoding it.

    Attributes:
        job: the job the body holds.
        digest: ``hash()`` of the body (Python's 64-bit SipHash, keyed per process): two
            different bodies share one with odds of 1 in 2**64. None: no body was seen.
    """

    job: Job
    digest: int | None = None


def answer_from(
    body: bytes, job_id: str, last: Answer | None, decode: Callable[[bytes, str], Job]
) -> Answer:
    """``last`` itself when ``body`` is the body it was decoded from, else a new answer
    with ``decode(body, job_id)``.

    A running job answers the same bytes poll after poll: those are not decoded again,
    and the watch knows by identity that nothing changed.
    """
    digest = hash(body)
    if last is not None and last.digest == digest:
        return last
    return Answer(decode(body, job_id), digest)


_TEXT_KEYS = ("volume_id", "name", "volume_type", "server_id", "nic_id")
_ENTITY_KEYS = frozenset((*_TEXT_KEYS, "size", "sub_jobs"))


# -- one hook per field: each checks its JSON value's type and builds the field -----------
# cattrs' defaults would turn 5 into "5"; a job body with the wrong types is malformed.
# The usual case (the right type) is tested first, inline: these run for every field of
# every job in a body that changed.


def _strict_str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_text(value: Any, _: object) -> str | None:
    return value if value is None or type(value) is str else _strict_str(value)


def _job_id(value: Any, _: object) -> str:
    if type(value) is not str:
        raise TypeError(f"job_id must be a string, got {type(value).__name__}")
    return value


def _size(value: Any, _: object) -> int | None:
    if value is None or type(value) is int:
        return value
    raise TypeError(f"expected an integer, got {type(value).__name__}")


# Disk types seen, each kept once rather than once per watched job (bounded: the API
# sends a handful, and a server inventing new ones must not grow the process).
_KINDS: dict[Any, str] = {}
_MAX_KINDS = 256


def _kind(value: Any, _: object) -> str | None:
    known = _KINDS.get(value)
    if known is not None or value is None:
        return known
    kind = _strict_str(value)
    if len(_KINDS) < _MAX_KINDS:
        _KINDS[kind] = kind
    return kind


# Dict lookups first: an enum call costs three times as much, on every poll.
_STATUSES: dict[Any, JobStatus] = {member.value: member for member in JobStatus}
_TYPES: dict[Any, JobType] = {member.value: member for member in JobType}


def _status(value: Any, _: object) -> JobStatus:
    return _STATUSES.get(value) or JobStatus(_strict_str(value))


def _job_type(value: Any, _: object) -> JobType | None:
    if value is None:
        return None
    return _TYPES.get(value) or JobType(_strict_str(value))


def _time(value: Any, _: object) -> datetime | None:
    return None if value is None or value == "" else _parse_time_text(value)


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


def format_time(moment: datetime | None) -> str:
    """The API's time format, ``YYYY-MM-DDTHH:MM:SS.SSSZ`` (microseconds when needed)."""
    if moment is None:
        return ""
    return _format_moment(moment)


@functools.lru_cache(maxsize=4096)
def _format_moment(moment: datetime) -> str:
    # Cached: a job's times repeat in every event and ending a shared store encodes.
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec=spec) + "Z"


# -- the hooks of the nested objects: their JSON type checked, then the generated hook ----


def _job(value: Any, _: object) -> Job:
    if type(value) is not dict:
        raise TypeError(f"a job must be an object, got {type(value).__name__}")
    return _job_fields(value, Job)


def _sub_jobs(value: Any, _: object) -> tuple[Job, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        raise TypeError(f"sub_jobs must be a list, got {type(value).__name__}")
    # The generated hook straight away for each object: a batch holds a job per disk.
    return tuple(
        [_job_fields(item, Job) if type(item) is dict else _job(item, Job) for item in value]
    )


def _entities(value: Any, _: object) -> JobEntities:
    if value is None:
        return NO_ENTITIES
    if type(value) is not dict:
        raise TypeError(f"entities must be an object, got {type(value).__name__}")
    if not _ENTITY_KEYS.issuperset(value):
        # The keys the model does not name go to ``extra`` (read-only: JobEntities'
        # converter makes it so); this new dict holds no other key of that name.
        known = {key: item for key, item in value.items() if key in _ENTITY_KEYS}
        known["extra"] = {key: item for key, item in value.items() if key not in _ENTITY_KEYS}
        value = known
    return _entities_fields(value, JobEntities)


def _extra(value: Any, _: object) -> Any:
    return value  # built by _entities above, made read-only by JobEntities' converter


def _error(value: Any, _: object) -> ApiError | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise TypeError(f"error must be an object, got {type(value).__name__}")
    return _error_fields(value, ApiError)


def _make_converter() -> cattrs.Converter:
    """The converter, its hooks generated for each model with the field hooks above.

    cattrs writes each model's hook as straight-line code (detailed validation off: the
    first fault raises, and becomes one MalformedResponseError naming it).
    """
    converter = cattrs.Converter(detailed_validation=False)

    def generated(cls: type[Any], **hooks: Callable[[Any, Any], Any]) -> Any:
        fields: dict[str, Any] = {name: override(struct_hook=hook) for name, hook in hooks.items()}
        return make_dict_structure_fn(cls, converter, _cattrs_detailed_validation=False, **fields)

    text = dict.fromkeys(("error_code", "fail_reason"), _optional_text)
    job = generated(
        Job,
        job_id=_job_id,
        status=_status,
        job_type=_job_type,
        begin_time=_time,
        end_time=_time,
        entities=_entities,
        error=_error,
        **text,
    )
    entities = generated(
        JobEntities,
        size=_size,
        volume_type=_kind,
        sub_jobs=_sub_jobs,
        extra=_extra,
        **dict.fromkeys(("volume_id", "name", "server_id", "nic_id"), _optional_text),
    )
    converter.register_structure_hook(Job, job)
    converter.register_structure_hook(JobEntities, entities)
    converter.register_structure_hook(
        ApiError, generated(ApiError, code=_optional_text, message=_optional_text)
    )
    return converter


_converter = _make_converter()
# The generated hooks, fetched once: the nested hooks above and job_from_data call them
# without the converter's dispatch.
_Hook = Callable[[Mapping[str, Any], Any], T]
_job_fields: _Hook[Job] = _converter.get_structure_hook(Job)
_entities_fields: _Hook[JobEntities] = _converter.get_structure_hook(JobEntities)
_error_fields: _Hook[ApiError] = _converter.get_structure_hook(ApiError)
_BROKEN = (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError)


def loads(body: bytes, job_id: str | None = None) -> Any:
    """Parse JSON bytes, or raise MalformedResponseError with an excerpt of them."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponseError(f"not JSON ({exc})", body=body, job_id=job_id) from None


def decode_job(body: bytes, job_id: str | None = None) -> Job:
    """Response bytes to a Job; anything that is not a job is a MalformedResponseError.

    The one way from a body to a Job: the client, the tests and the benchmark call it.
    ``job_id``: the id asked for, named in errors; the Job shares that string when equal.
    """
    data = loads(body, job_id)
    if job_id is not None and type(data) is dict and data.get("job_id") == job_id:
        data["job_id"] = job_id  # a watched job then keeps one copy of its id
    return job_from_data(data, body=body, job_id=job_id)


def job_from_data(data: Any, *, body: bytes = b"", job_id: str | None = None) -> Job:
    """Parsed JSON to a Job through the converter's Job hook, or MalformedResponseError.

    ``decode_job`` after parsing; called alone for jobs that arrive parsed (from Redis).
    """
    if type(data) is not dict:
        raise MalformedResponseError(
            f"expected a JSON object, got {type(data).__name__}", body=body, job_id=job_id
        )
    try:
        return _job_fields(data, Job)
    except _BROKEN as exc:
        raise _not_a_job(exc, body, job_id) from None


def _not_a_job(exc: Exception, body: bytes, job_id: str | None) -> MalformedResponseError:
    reason = "too deeply nested" if isinstance(exc, RecursionError) else exc
    return MalformedResponseError(
        f"not a job ({type(exc).__name__}: {reason})", body=body, job_id=job_id
    )


def error_fields(data: Any) -> tuple[str | None, str | None] | None:
    """The (code, message) of an error body in any of the API's three shapes, else None.

    Shapes: ``{"error": {"code", "message"}}``, OpenStack's ``{"itemNotFound": {...}}``
    (any single key holding a code or message), and the gateway's
    ``{"error_code", "error_msg"}``.
    """
    if type(data) is not dict:
        return None
    if "error_code" in data and "error_msg" in data:
        return _text(data.get("error_code")), _text(data.get("error_msg"))
    inner = data.get("error")
    if inner is None and len(data) == 1:
        inner = next(iter(data.values()))
    if type(inner) is dict and ("code" in inner or "message" in inner):
        return _text(inner.get("code")), _text(inner.get("message"))
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:500]


_ENCODED_KEYS = (*_TEXT_KEYS, "size")


def _unstructure(job: Job) -> dict[str, Any]:
    entities = job.entities
    body: dict[str, Any] = {
        "status": job.status.value,
        "entities": {
            **entities.extra,
            **{
                key: value for key in _ENCODED_KEYS if (value := getattr(entities, key)) is not None
            },
        },
        "job_id": job.job_id,
        "begin_time": format_time(job.begin_time),
        "end_time": format_time(job.end_time),
        "error_code": job.error_code,
        "fail_reason": job.fail_reason,
    }
    if entities.sub_jobs:
        body["entities"]["sub_jobs"] = [_unstructure(sub) for sub in entities.sub_jobs]
    if job.job_type is not None:
        body["job_type"] = job.job_type.value
    if job.error is not None:
        body["error"] = {"code": job.error.code, "message": job.error.message}
    return body


def encode_job(job: Job) -> bytes:
    """A Job as the API would send it (the inverse of ``decode_job``)."""
    return orjson.dumps(_unstructure(job))
