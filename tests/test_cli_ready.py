"""``evs-job-watch watch --ready``: a job ends once its disks are usable; the JSON lines
and the plain lines show the ready phase."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from evs_job_watch.simulator import Quirks

from .threaded import ThreadedSimulator, run_watch, signed_in

DONE = [(0.0, "RUNNING"), (0.3, "SUCCESS")]


@pytest.fixture
def lagging(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedSimulator]:
    # Disks turn available 0.5 simulated seconds after their job's SUCCESS.
    with signed_in(monkeypatch, seed=5, quirks=Quirks(volume_lag=0.5)) as threaded:
        yield threaded


def test_json_lines_show_the_job_done_then_ready_after_its_disk(
    lagging: ThreadedSimulator,
) -> None:
    job_id = lagging.call(lagging.sim.add_job, timeline=DONE)
    (volume_id,) = lagging.call(lagging.sim.disks_of, job_id)
    code, output = run_watch(lagging, "--json", "--ready", job_id)
    records = [json.loads(line) for line in output.splitlines()]
    summary = records.pop()
    assert code == 0
    assert (summary["total"], summary["succeeded"]) == (1, 1)
    assert [(r["event"], r["status"]) for r in records][-2:] == [
        ("status", "SUCCESS"),
        ("ready", "SUCCESS"),
    ]
    assert records[-1]["volume_id"] == volume_id
    # The ready line came from a listing that read the disk available, after the job's
    # SUCCESS: the first listings still read it creating.
    usable = lagging.call(lagging.sim.disks.usable_at, volume_id)
    assert usable > lagging.call(lagging.sim.ended_at, job_id)
    listings = [r.at for r in lagging.sim.requests if "os-vendor-volumes" in r.path]
    assert listings[0] < usable <= listings[-1]


def test_without_ready_there_is_no_ready_line(lagging: ThreadedSimulator) -> None:
    job_id = lagging.call(lagging.sim.add_job, timeline=DONE)
    code, output = run_watch(lagging, "--json", job_id)
    assert code == 0
    assert '"ready"' not in output
    listings = [r for r in lagging.sim.requests if "os-vendor-volumes" in r.path]
    assert listings == []


def test_plain_lines_say_ready(lagging: ThreadedSimulator) -> None:
    job_id = lagging.call(lagging.sim.add_job, timeline=DONE)
    code, output = run_watch(lagging, "--ready", job_id)
    assert code == 0
    lines = [line for line in output.splitlines() if job_id in line]
    assert "-> SUCCESS" in lines[-2]
    assert "ready (SUCCESS, disks usable)" in lines[-1]


def test_the_tally_counts_a_job_not_ready_as_unfinished() -> None:
    from evs_job_watch import Job, JobEvent, JobStatus
    from evs_job_watch._cli._report import NOT_READY, Tally

    tally = Tally(["j"], ready=True)
    done = Job(job_id="j", status=JobStatus.SUCCESS)
    tally.event(JobEvent(done, JobStatus.RUNNING))
    assert (tally.status["j"], tally.ended, tally.unfinished()) == (NOT_READY, 0, ["j"])
    tally.event(JobEvent(done, JobStatus.SUCCESS, ready=True))
    assert (tally.status["j"], tally.ended, tally.succeeded) == ("SUCCESS", 1, 1)
    plain = Tally(["j"])
    plain.event(JobEvent(done, JobStatus.RUNNING))
    assert plain.status["j"] == "SUCCESS"
