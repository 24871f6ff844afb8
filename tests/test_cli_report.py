"""What ``watch`` reports at the end, --quiet, --fail-fast, ids from files, and its logs."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from evs_job_watch.cli import main
from evs_job_watch.simulator import Reply

from .threaded import QUICK, ThreadedSimulator, run_watch, signed_in

DONE = [(0.0, "RUNNING"), (0.2, "SUCCESS")]
FAILS = [(0.0, "RUNNING"), (0.2, "FAIL")]
FOREVER = [(0.0, "RUNNING"), (3600.0, "SUCCESS")]
REFUSED = Reply(status=400, body={"error": {"code": "EVS.0001", "message": "bad request"}})


@pytest.fixture
def threaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedSimulator]:
    with signed_in(monkeypatch, seed=11) as threaded:
        yield threaded


def mixed_jobs(threaded: ThreadedSimulator) -> tuple[str, str, list[str], str]:
    """A job that succeeds, a batch that fails with one failed sub-job, a refused query."""
    sim = threaded.sim
    ok = threaded.call(sim.add_job, timeline=DONE)
    batch = threaded.call(sim.add_job, sub_jobs=[DONE, FAILS], fail=("EVS.2024", "no room"))
    subs = threaded.call(sim.sub_job_ids, batch)
    refused = threaded.call(sim.add_job, timeline=FOREVER)
    threaded.call(sim.inject, refused, REFUSED)
    return ok, batch, subs, refused


def test_the_end_lists_every_failed_job_and_watch_error_with_codes(
    threaded: ThreadedSimulator,
) -> None:
    ok, batch, subs, refused = mixed_jobs(threaded)
    code, output = run_watch(threaded, ok, batch, refused)
    assert code == 3
    report = output.splitlines()[-4:]
    assert report == [
        "3 jobs: 1 succeeded, 1 failed, 1 watch error",
        f"FAIL  {batch} batchCreateVolume [EVS.2024] no room",
        f"      sub-job {subs[1]} [EVS.2024] no room",
        f"ERROR {refused} EvsApiError [EVS.0001]: bad request (HTTP 400)",
    ]


def test_quiet_prints_only_the_failures(threaded: ThreadedSimulator) -> None:
    ok, batch, subs, refused = mixed_jobs(threaded)
    code, output = run_watch(threaded, "--quiet", ok, batch, refused)
    assert code == 3
    assert output.splitlines() == [
        f"FAIL  {batch} batchCreateVolume [EVS.2024] no room",
        f"      sub-job {subs[1]} [EVS.2024] no room",
        f"ERROR {refused} EvsApiError [EVS.0001]: bad request (HTTP 400)",
    ]


def test_quiet_prints_nothing_when_all_succeeded(threaded: ThreadedSimulator) -> None:
    ok = threaded.call(threaded.sim.add_job, timeline=DONE)
    assert run_watch(threaded, "-q", ok) == (0, "")


def test_json_ends_with_a_summary_of_failures_and_errors(threaded: ThreadedSimulator) -> None:
    ok, batch, subs, refused = mixed_jobs(threaded)
    code, output = run_watch(threaded, "--json", "--quiet", ok, batch, refused)
    [summary] = [json.loads(line) for line in output.splitlines()]
    assert code == 3
    del summary["time"]
    assert summary == {
        "event": "summary",
        "total": 3,
        "succeeded": 1,
        "failed": [
            {
                "job_id": batch,
                "job_type": "batchCreateVolume",
                "error_code": "EVS.2024",
                "fail_reason": "no room",
                "sub_jobs": [
                    {
                        "job_id": subs[1],
                        "job_type": "createVolume",
                        "error_code": "EVS.2024",
                        "fail_reason": "no room",
                    }
                ],
            }
        ],
        "errors": [
            {
                "job_id": refused,
                "error": "EvsApiError",
                "code": "EVS.0001",
                "message": "bad request",
                "http_status": 400,
            }
        ],
        "unfinished": [],
        "stopped": None,
    }


def test_fail_fast_stops_at_the_first_failure(
    threaded: ThreadedSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    running = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    bad = threaded.call(threaded.sim.add_job, timeline=FAILS, fail=("EVS.2024", "no room"))
    code, output = run_watch(threaded, "--fail-fast", "--timeout", "inf", running, bad)
    assert code == 1
    assert output.splitlines()[-2:] == [
        "2 jobs: 0 succeeded, 1 failed, 0 watch errors, 1 unfinished",
        f"FAIL  {bad} createVolume [EVS.2024] no room",
    ]
    assert capsys.readouterr().err == (
        "evs-job-watch: stopped by --fail-fast: 1 of 2 jobs ended (0 succeeded, 1 failed, "
        f"0 watch errors); 1 still running: {running}\n"
    )


def test_fail_fast_stops_at_the_first_watch_error(threaded: ThreadedSimulator) -> None:
    running = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    refused = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    threaded.call(threaded.sim.inject, refused, REFUSED)
    code, output = run_watch(threaded, "--fail-fast", "--json", "-q", running, refused)
    summary = json.loads(output)
    assert code == 3
    assert (summary["stopped"], summary["unfinished"]) == ("--fail-fast", [running])
    assert [e["job_id"] for e in summary["errors"]] == [refused]


def test_job_ids_from_files_with_comments(threaded: ThreadedSimulator, tmp_path: Path) -> None:
    first = threaded.call(threaded.sim.add_job, timeline=DONE)
    second = threaded.call(threaded.sim.add_job, timeline=DONE)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# tonight's disks\n\n  {first}  \n{second} # the big one\n{first}\n")
    code, output = run_watch(threaded, "--from-file", str(ids))
    assert code == 0
    assert output.splitlines()[-1] == "2 jobs: 2 succeeded, 0 failed, 0 watch errors"


def test_bad_ids_in_a_file_are_named_by_line_before_any_request(
    threaded: ThreadedSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = tmp_path / "ids.txt"
    lines = ["# ids", "ok-1", "a/b", "", "c d", "e.f", "g%h", "ok-2"]
    ids.write_text("\n".join(lines) + "\n")
    code, output = run_watch(threaded, "--from-file", str(ids), "x?y")
    assert (code, output) == (2, "")
    assert capsys.readouterr().err == (
        "evs-job-watch: error: invalid job id in JOB_ID argument 1 'x?y'; "
        f"--from-file {ids} line 3 'a/b'; --from-file {ids} line 5 'c d' and 2 more "
        "(a job id is 1 to 128 of A-Z a-z 0-9 - _)\n"
    )
    assert threaded.call(lambda: len(threaded.sim.requests)) == 0


def test_verbose_logs_the_library_to_stderr_and_restores_logging(
    threaded: ThreadedSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = threaded.call(threaded.sim.add_job, timeline=DONE)
    logger = logging.getLogger("evs_job_watch")
    before = (logger.level, logger.propagate, list(logger.handlers))
    assert run_watch(threaded, "-v", "-q", ok) == (0, "")
    info = capsys.readouterr().err
    assert f"INFO evs_job_watch: watching 1 jobs at {threaded.sim.endpoint}" in info
    assert "DEBUG" not in info
    assert run_watch(threaded, "--log-level", "DEBUG", "-q", ok) == (0, "")
    debug = capsys.readouterr().err
    assert f"DEBUG evs_job_watch: job {ok} is SUCCESS (" in debug
    assert (logger.level, logger.propagate, list(logger.handlers)) == before
    assert run_watch(threaded, "-q", ok) == (0, "")
    assert capsys.readouterr().err == ""  # ERROR and up only, by default


class ClosedPipe(io.StringIO):
    """A stdout whose reader went away after ``allowed`` writes."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed

    def write(self, text: str) -> int:
        if self.allowed <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.allowed -= 1
        return super().write(text)


def test_a_broken_pipe_on_a_write_ends_the_run_with_141(
    threaded: ThreadedSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    running = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    single = threaded.call(threaded.sim.add_job, timeline=[(0.0, "INIT"), (0.1, "RUNNING")])
    out = ClosedPipe(allowed=1)
    code = main(["watch", "--endpoint", threaded.sim.endpoint, *QUICK, running, single], out=out)
    assert code == 141
    assert len(out.getvalue().splitlines()) == 1
    assert capsys.readouterr().err == ""


class SignalOnFirstWrite(io.StringIO):
    """A stdout that sends this process ``signum`` when the first event is written."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum

    def write(self, text: str) -> int:
        if not self.getvalue():
            os.kill(os.getpid(), self.signum)
        return super().write(text)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_in_process_ends_the_run_with_its_code(
    threaded: ThreadedSimulator, capsys: pytest.CaptureFixture[str], signum: int, code: int
) -> None:
    running = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    out = SignalOnFirstWrite(signum)
    args = ["watch", "--endpoint", threaded.sim.endpoint, *QUICK, "--json", running]
    assert main(args, out=out) == code
    summary = json.loads(out.getvalue().splitlines()[-1])
    name = signal.Signals(signum).name
    assert (summary["stopped"], summary["unfinished"]) == (name, [running])
    assert capsys.readouterr().err == (
        f"evs-job-watch: stopped by {name}: 0 of 1 job ended (0 succeeded, 0 failed, "
        f"0 watch errors); 1 still running: {running}\n"
    )
    assert signal.getsignal(signum) is signal.SIG_DFL  # the handlers are gone again
