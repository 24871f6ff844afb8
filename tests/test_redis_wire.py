"""What a replica sends the fleet about a poll: each delivered job encoded once, and the
ending spliced from that encoding reads back as the job."""

from __future__ import annotations

import orjson
import pytest

from evs_job_watch import JobEvent, JobNotFoundError, JobStatus
from evs_job_watch._wire._codec import job_from_data
from evs_job_watch.redis import _wire


def _body(job_id: str, status: str, subs: list[dict[str, object]] | None = None) -> object:
    entities: dict[str, object] = {"volume_id": f"v-{job_id}"}
    if subs is not None:
        entities = {"sub_jobs": subs}
    return {
        "job_id": job_id,
        "job_type": "createVolume" if subs is None else "batchCreateVolume",
        "status": status,
        "entities": entities,
        "begin_time": "2024-01-01T00:00:00.123Z",
        "end_time": "2024-01-01T00:00:05.000Z",
        "error_code": None,
        "fail_reason": None,
    }


def test_the_events_and_ending_of_one_poll_encode_each_job_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subs = [_body(f"s{n}", "SUCCESS") for n in range(3)]
    parent = job_from_data(_body("p", "SUCCESS", subs))
    encoded: list[str] = []
    encode_job = _wire.encode_job

    def counted(job: object) -> bytes:
        encoded.append(job.job_id)  # type: ignore[attr-defined]
        return encode_job(job)  # type: ignore[arg-type]

    monkeypatch.setattr(_wire, "encode_job", counted)
    encoder = _wire.Encoder()
    events = [JobEvent(sub, JobStatus.RUNNING, parent) for sub in parent.entities.sub_jobs]
    events.append(JobEvent(parent, JobStatus.RUNNING, None))
    messages = [orjson.loads(_wire.event_message("r1", e, encoder)) for e in events]
    item = _wire.end_item("r1", "p", parent, encoder)
    # The parent rides with every sub-job's event and with the ending: encoded once.
    assert sorted(encoded) == ["p", "s0", "s1", "s2"]
    # And each message says what it would have said encoded anew.
    for message, event in zip(messages, events):
        [back] = _wire.events_of(message)
        assert back == event
    assert _wire.outcome_of(orjson.loads(str(item["t"])), "p") == parent
    note = orjson.loads(str(item["m"]))
    assert note == {"k": "end", "r": "r1", "j": "p", "o": _wire.outcome_data(parent)}


def test_an_error_ending_reads_back_as_the_error() -> None:
    error = JobNotFoundError("no such job", status=404, code="EVS.1")
    item = _wire.end_item('r"1', "j", error)
    back = _wire.outcome_of(orjson.loads(str(item["t"])), "j")
    assert isinstance(back, JobNotFoundError)
    assert (back.message, back.status, back.code) == ("no such job", 404, "EVS.1")
    note = orjson.loads(str(item["m"]))
    assert (note["k"], note["r"], note["j"]) == ("end", 'r"1', "j")
