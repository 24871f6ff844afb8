"""The pure diff from one poll to the next, and the ids of the events it makes."""

from __future__ import annotations

import orjson

from evs_job_watch import JobStatus
from evs_job_watch._core._events import diff
from evs_job_watch.redis import _wire

from .scripted import make_job

S = JobStatus


def test_first_sight_is_an_event_with_no_previous() -> None:
    job = make_job("j", "INIT")
    [event] = diff(None, {}, job)
    assert (event.job, event.previous, event.parent, event.is_sub_job) == (job, None, None, False)
    assert (event.job_id, event.status) == ("j", S.INIT)


def test_no_change_no_event() -> None:
    assert diff(S.RUNNING, {}, make_job("j", "RUNNING")) == []


def test_sub_job_events_come_first_in_order_then_the_parent() -> None:
    job = make_job("b", "RUNNING", subs=[("s1", "SUCCESS"), ("s2", "RUNNING"), ("s3", "FAIL")])
    events = diff(S.INIT, {"s1": S.RUNNING, "s2": S.RUNNING, "s3": S.RUNNING}, job)
    assert [(e.job_id, e.previous, e.status) for e in events] == [
        ("s1", S.RUNNING, S.SUCCESS),
        ("s3", S.RUNNING, S.FAIL),
        ("b", S.INIT, S.RUNNING),
    ]
    assert all(e.parent is job for e in events[:2])


def test_nothing_follows_a_terminal_status() -> None:
    job = make_job("b", "RUNNING", subs=[("s1", "RUNNING")])
    assert diff(S.RUNNING, {"s1": S.SUCCESS}, job) == []
    assert diff(S.FAIL, {}, make_job("b", "RUNNING")) == []


def test_unknown_statuses_compare_by_text() -> None:
    assert diff(JobStatus("PAUSED"), {}, make_job("j", "PAUSED")) == []
    assert len(diff(JobStatus("PAUSED"), {}, make_job("j", "RESUMED"))) == 1


def test_an_event_id_is_the_transition_whoever_saw_it_and_whenever() -> None:
    # Two polls of the same job, at different times (on two replicas, or before and after
    # a restart), give the same ids for the same transitions; another transition of the
    # same job or sub-job gets another id.
    first = diff(S.INIT, {"s1": S.RUNNING}, make_job("b", "RUNNING", subs=[("s1", "SUCCESS")]))
    again = diff(S.INIT, {"s1": S.RUNNING}, make_job("b", "RUNNING", subs=[("s1", "SUCCESS")]))
    assert [e.event_id for e in first] == ["b/s1:RUNNING>SUCCESS", "b:INIT>RUNNING"]
    assert [e.event_id for e in again] == [e.event_id for e in first]
    [seen_first] = diff(None, {}, make_job("b", "RUNNING"))
    assert seen_first.event_id == "b:->RUNNING"  # first sight: no previous status
    later = diff(S.RUNNING, {}, make_job("b", "SUCCESS"))
    ids = {e.event_id for e in [*first, seen_first, *later]}
    assert len(ids) == 4


def test_an_event_id_is_the_same_after_travelling_through_redis() -> None:
    [event] = diff(S.RUNNING, {"s1": S.RUNNING}, make_job("b", "RUNNING", subs=[("s1", "FAIL")]))
    [back] = _wire.events_of(orjson.loads(_wire.event_message("r1", event)))
    assert back.event_id == event.event_id == "b/s1:RUNNING>FAIL"
