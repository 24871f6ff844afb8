"""The pure diff from one poll to the next."""

from __future__ import annotations

from evs_job_watch import JobStatus
from evs_job_watch._core._events import diff

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
