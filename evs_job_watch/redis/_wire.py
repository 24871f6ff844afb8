"""What travels through Redis: events, endings and notes between replicas, as JSON.

Jobs travel in the API's own body format (``_codec.encode_job``) and come back through
the same checks as an answer of the API (``_codec.job_from_data``): a replica trusts
Redis no more than it trusts the API. Nothing here carries a credential.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from .._core._events import JobEvent, Statuses
from .._core._ready import ReadyStatuses
from .._core._store import Fleet
from .._core._watch import Watch
from .._errors import (
    AuthenticationError,
    EvsApiError,
    EvsJobWatchError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
    VolumeFailedError,
)
from .._models import Job, JobStatus
from .._wire._codec import encode_job, job_from_data

__all__ = [
    "EVENT",
    "Encoder",
    "batch_items",
    "end_item",
    "event_message",
    "event_prefix",
    "events_of",
    "known_of",
    "outcome_data",
    "outcome_of",
    "readds",
    "ready_items",
    "statuses_data",
    "waits",
]

_API_ERRORS: dict[str, type[EvsApiError]] = {
    cls.__name__: cls
    for cls in (EvsApiError, JobNotFoundError, AuthenticationError, ThrottledError, ServerError)
}


def _job(data: Any) -> Job:
    return job_from_data(data)


EVENT = b'{"k":"ev"'  # how every event message starts


def event_prefix(replica: str) -> bytes:
    """How the event messages of ``replica`` start (a listener skips its own unparsed)."""
    return b"".join((EVENT, b',"r":', orjson.dumps(replica), b","))


class Encoder:
    """``encode_job`` that remembers the last jobs it encoded: the events of one poll of
    a batch share their parent, and a watch's ending is the job of its last event, so
    each is encoded once."""

    _MOST = 16  # jobs remembered (those of a poll or two)

    def __init__(self) -> None:
        self._last: dict[int, tuple[Job, bytes]] = {}

    def __call__(self, job: Job) -> bytes:
        known = self._last.get(id(job))  # the job is kept with it: its id is not reused
        if known is not None:
            return known[1]
        data = encode_job(job)
        if len(self._last) >= self._MOST:
            self._last.clear()
        self._last[id(job)] = (job, data)
        return data


def event_message(replica: str, event: JobEvent, encode: Encoder | None = None) -> bytes:
    """The note that ``replica`` delivered ``event``, for the other replicas' streams."""
    # Spliced from the encoded jobs: a batch's parent is not decoded and encoded again.
    encoded = encode_job if encode is None else encode
    previous = None if event.previous is None else event.previous.value
    parent = b"null" if event.parent is None else encoded(event.parent)
    return b"".join(
        (
            event_prefix(replica),
            b'"p":',
            orjson.dumps(previous),
            b',"j":',
            encoded(event.job),
            b',"a":',
            parent,
            b"}",
        )
    )


def events_of(message: dict[str, Any]) -> list[JobEvent]:
    """The event of an ``event_message`` (ValueError if it is not one)."""
    try:
        previous = message["p"]
        parent = message["a"]
        return [
            JobEvent(
                _job(message["j"]),
                None if previous is None else JobStatus(str(previous)),
                None if parent is None else _job(parent),
            )
        ]
    except (KeyError, TypeError, EvsJobWatchError) as exc:
        raise ValueError(f"not an event: {exc}") from None


def outcome_data(outcome: Job | BaseException) -> dict[str, Any]:
    """How a watch ended, as JSON data: the terminal job, or the error's kind and text."""
    if isinstance(outcome, Job):
        return {"job": orjson.loads(encode_job(outcome))}
    error: dict[str, Any] = {"type": type(outcome).__name__, "message": str(outcome)}
    if isinstance(outcome, EvsApiError):
        error.update(message=outcome.message, status=outcome.status, code=outcome.code)
    if isinstance(outcome, VolumeFailedError):  # ready mode: a disk in an error* state
        error.update(job=orjson.loads(encode_job(outcome.job)), volume=outcome.volume_id)
        error.update(volume_status=outcome.volume_status)
    return {"error": error}


def end_item(
    replica: str, job_id: str, outcome: Job | BaseException, encode: Encoder | None = None
) -> dict[str, object]:
    """The batch item by which ``replica`` records how the watch of ``job_id`` ended."""
    if isinstance(outcome, Job):  # spliced: the job as encoded for its last event
        data = b"".join((b'{"job":', (encode_job if encode is None else encode)(outcome), b"}"))
    else:
        data = orjson.dumps(outcome_data(outcome))
    head = orjson.dumps({"k": "end", "r": replica, "j": job_id})[:-1]
    return {
        "a": "end",
        "j": job_id,
        "t": data.decode(),
        "m": b"".join((head, b',"o":', data, b"}")).decode(),
        "f": int(isinstance(outcome, Job)),  # the job ended: a fact, whoever owns it
    }


def outcome_of(data: Any, job_id: str) -> Job | EvsJobWatchError:
    """The outcome of ``outcome_data`` again; an error of another kind comes back as
    ``EvsJobWatchError`` with its text (ValueError if the data is not an outcome)."""
    try:
        if "job" in data:
            return _job(data["job"])
        error = data["error"]
        kind, message = str(error["type"]), str(error["message"])
        if kind in _API_ERRORS:
            status, code = error.get("status"), error.get("code")
            return _API_ERRORS[kind](
                message,
                status=status if isinstance(status, int) else None,
                code=code if isinstance(code, str) else None,
                job_id=job_id,
            )
        if kind == "VolumeFailedError":
            job = _job(error["job"])
            return VolumeFailedError(job, str(error["volume"]), str(error["volume_status"]))
        if kind == "MalformedResponseError":
            return MalformedResponseError(message, job_id=job_id)
        return EvsJobWatchError(f"the watch of job {job_id} ended on another replica: {message}")
    except (KeyError, TypeError, EvsJobWatchError) as exc:
        raise ValueError(f"not an outcome: {exc}") from None


# Ready mode is kept with the sub-jobs' statuses, as a key no status has for a value: the
# script keeps it through every sub-job's record, and a re-add after a reset carries it.
READY, _YES = "evs-job-watch:ready", "1"  # the key, and its value


def statuses_data(known: Statuses, ready: bool = False) -> tuple[str, str]:
    """A watch's delivered statuses as the script keeps them: the job's, and the sub-jobs'
    (with the mark of ready mode if ``ready``)."""
    job = "" if known.job is None else known.job.value
    subs = {sub: status.value for sub, status in (known.subs or {}).items()}
    if ready:
        subs[READY] = _YES
    return job, orjson.dumps(subs).decode()


def _subs(subs: bytes | str) -> dict[Any, Any]:
    data = orjson.loads(subs or b"{}")
    if not isinstance(data, dict):
        raise ValueError("sub-job statuses are not an object")
    return data


def known_of(job: bytes | str, subs: bytes | str) -> Statuses:
    """``statuses_data`` read back (ValueError if it is broken): ``ReadyStatuses`` if they
    carry the mark of ready mode (the mark is not a sub-job)."""
    if isinstance(job, bytes):
        job = job.decode()
    data = _subs(subs)
    ready = data.get(READY) == _YES
    return (ReadyStatuses if ready else Statuses)(
        JobStatus(job) if job else None,
        {
            str(sub): JobStatus(str(status))
            for sub, status in data.items()
            if status and not (ready and sub == READY)
        },
    )


def waits(watch: Watch) -> int:
    """How long the holders of ``watch`` here wait from now, in us, as the script takes
    it (``x``): -1 if one waits without a deadline (call it only while it is held)."""
    until = watch.until()
    if until is None or until == float("inf"):
        return -1
    return max(int((until - asyncio.get_running_loop().time()) * 1e6), 0)


def ready_items(replica: str, job_id: str) -> list[dict[str, object]]:
    """The batch items by which ``replica`` puts the fleet's watch of ``job_id`` in ready
    mode: the mark recorded as if a sub-job's status (once), and the news on the fleet's
    log (the replica that polls it goes on in ready mode)."""
    note = orjson.dumps({"k": "rdy", "r": replica, "j": job_id}).decode()
    return [
        {"a": "rec", "j": job_id, "b": READY, "p": "", "s": _YES, "m": note},
        {"a": "pub", "j": "", "m": note},
    ]


def batch_items(items: list[dict[str, object]]) -> str:
    """A batch's items, as the script's ``batch`` operation reads them (JSON)."""
    return orjson.dumps(items).decode()


def readds(fleet: Fleet, grace: int) -> list[dict[str, object]]:
    """A replica's watches as it knows them, to add again to an emptied Redis: the live
    ones, and those whose job ended here while its last events are delivered (polled
    here until their ending is recorded). A follower's comes due ``grace`` us later."""
    items: list[dict[str, object]] = []
    for watch, polled in (
        *((watch, watch.polling) for watch in fleet.watches()),
        *((watch, True) for watch in fleet.finishing()),
    ):
        job, subs = statuses_data(watch.delivered(), watch.ready)
        item = {"a": "add", "j": watch.job_id, "s": job, "u": subs, "h": int(watch.held)}
        if watch.held:  # its deadline here (a watch nobody holds here tells none)
            item["x"] = waits(watch)
        items.append({**item, "o": int(polled), "g": 1, "w": grace})
    return items
