"""The real ``evs-job-watch`` process at a shell: signals, pipes, a terminal, stdin.

Each test runs the installed command against a simulator on loopback, waits for a line it
prints (never for a while), then signals it, closes its pipe, or lets it end, and checks
the exit code and that no stderr carries a traceback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from collections.abc import Iterator

import pytest

from .shell import Shell, command
from .threaded import CREDENTIAL_PREFIXES, QUICK, ThreadedSimulator

FOREVER = [(0.0, "RUNNING"), (3600.0, "SUCCESS")]
DONE = [(0.0, "SUCCESS")]


@pytest.fixture
def threaded() -> Iterator[ThreadedSimulator]:
    with ThreadedSimulator(seed=5) as threaded:
        yield threaded


def environment(threaded: ThreadedSimulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}
    env["OS_AUTH_TOKEN"] = threaded.sim.token
    env["OS_PROJECT_ID"] = threaded.sim.project_id
    return env


def watch(threaded: ThreadedSimulator, *args: str) -> list[str]:
    return ["watch", "--endpoint", threaded.sim.endpoint, *QUICK, *args]


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err
    assert "Exception ignored" not in err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_watch_with_one_summary_line(
    threaded: ThreadedSimulator, signum: int, code: int
) -> None:
    done = threaded.call(threaded.sim.add_job, timeline=DONE)
    running = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    with Shell(watch(threaded, done, running), environment(threaded)) as shell:
        assert shell.out is not None
        shell.out.wait_for(f"{done} createVolume: - -> SUCCESS")
        shell.out.wait_for(f"{running} createVolume: - -> RUNNING")
        shell.signal(signum)
        status, out, err = shell.finish()
    assert status == code
    name = signal.Signals(signum).name
    assert err.splitlines() == [
        f"evs-job-watch: stopped by {name}: 1 of 2 jobs ended (1 succeeded, 0 failed, "
        f"0 watch errors); 1 still running: {running}"
    ]
    assert "2 jobs: 1 succeeded, 0 failed, 0 watch errors, 1 unfinished" in out


def test_sigterm_ends_json_lines_with_a_summary_record(threaded: ThreadedSimulator) -> None:
    running = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    with Shell(watch(threaded, "--json", running), environment(threaded)) as shell:
        assert shell.out is not None
        shell.out.wait_for('"status":"RUNNING"')
        shell.signal(signal.SIGTERM)
        status, out, err = shell.finish()
    assert status == 143
    summary = json.loads(out.splitlines()[-1])
    assert (summary["event"], summary["stopped"], summary["unfinished"]) == (
        "summary",
        "SIGTERM",
        [running],
    )
    assert "stopped by SIGTERM" in err
    assert_no_traceback(err)


def test_ctrl_c_stops_the_live_view_on_a_terminal(threaded: ThreadedSimulator) -> None:
    running = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    with Shell(watch(threaded, running), environment(threaded), terminal=True) as shell:
        assert shell.out is not None
        shell.out.wait_for("RUNNING 1")  # the live view counts the job as running
        shell.signal(signal.SIGINT)
        status, out, err = shell.finish()
    assert status == 130
    assert "0/1 jobs ended" in out
    assert "stopped by SIGINT: 0 of 1 job ended" in err
    assert f"1 still running: {running}" in err
    assert_no_traceback(err)


def test_the_live_view_ends_with_the_failed_jobs_listed(threaded: ThreadedSimulator) -> None:
    done = threaded.call(threaded.sim.add_job, timeline=DONE)
    failed = threaded.call(
        threaded.sim.add_job, timeline=[(0.0, "FAIL")], fail=("EVS.2024", "no room")
    )
    with Shell(watch(threaded, done, failed), environment(threaded), terminal=True) as shell:
        status, out, err = shell.finish()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)  # the terminal's control sequences
    assert (status, err) == (1, "")
    assert "2/2 jobs ended" in text
    assert text.replace("\r\n", "\n").endswith(
        "2 jobs: 1 succeeded, 1 failed, 0 watch errors\n"
        f"FAIL  {failed} createVolume [EVS.2024] no room\n"
    )


def test_ctrl_c_stops_the_demo(threaded: ThreadedSimulator) -> None:
    env = environment(threaded)
    with Shell(["demo", "--speed", "1", "--jobs", "2"], env, terminal=True) as shell:
        assert shell.out is not None
        shell.out.wait_for("jobs ended")
        shell.signal(signal.SIGINT)
        status, _, err = shell.finish()
    assert status == 130
    assert "stopped by SIGINT:" in err
    assert_no_traceback(err)


@pytest.mark.parametrize("mode", [[], ["--json"]])
def test_a_closed_pipe_ends_the_watch_quietly(threaded: ThreadedSimulator, mode: list[str]) -> None:
    running = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    args = watch(threaded, *mode, running)
    with Shell(args, environment(threaded), read_stdout=False) as shell:
        first = shell.head()  # as `evs-job-watch watch ... | head -1`
        status, _, err = shell.finish()
    assert running.encode() in first
    assert status == 141
    assert err == ""


def test_a_closed_stdout_is_no_crash(threaded: ThreadedSimulator) -> None:
    done = threaded.call(threaded.sim.add_job, timeline=DONE)
    argv = ["sh", "-c", 'exec "$@" >&-', "sh", *command(*watch(threaded, done))]
    with Shell([], environment(threaded), argv=argv) as shell:
        status, _, err = shell.finish()
    assert status == 0
    assert err == ""


def test_job_ids_from_stdin_skip_comments_and_blank_lines(threaded: ThreadedSimulator) -> None:
    first = threaded.call(threaded.sim.add_job, timeline=DONE)
    second = threaded.call(threaded.sim.add_job, timeline=DONE)
    ids = f"# created by the nightly run\n{first}\n\n{second}  # the big disk\n"
    with Shell(watch(threaded, "-q", "-"), environment(threaded), stdin=ids.encode()) as shell:
        status, out, err = shell.finish()
    assert (status, out, err) == (0, "", "")
    assert {r.job_id for r in threaded.call(lambda: list(threaded.sim.requests))} == {
        first,
        second,
    }


def test_an_invalid_id_on_stdin_is_named_by_its_line_before_any_request(
    threaded: ThreadedSimulator,
) -> None:
    ids = b"4010b39b5281d3590152874bfa3b1604\n\nbad/id\n"
    with Shell(watch(threaded, "-"), environment(threaded), stdin=ids) as shell:
        status, out, err = shell.finish()
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        "evs-job-watch: error: invalid job id in stdin line 3 'bad/id' "
        "(a job id is 1 to 128 of A-Z a-z 0-9 - _)"
    ]
    assert threaded.call(lambda: len(threaded.sim.requests)) == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["watch", "--timeout", "soon", "j1"], "argument --timeout: 'soon' is not a number"),
        (["watch", "--endpoint", "http://evs.example", "j1"], "--endpoint 'http://evs.example'"),
        (["demo", "--speed", "0"], "argument --speed: must be a positive number"),
        (["simulate", "--port", "99999"], "argument --port: must be from 0 to 65535"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_flag(args: list[str], named: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}
    env.update(OS_AUTH_TOKEN="t", OS_PROJECT_ID="p1")
    with Shell(args, env) as shell:
        status, out, err = shell.finish()
    assert status == 2
    assert len(err.splitlines()) == 1, err
    assert named in err
    assert out == ""


def test_simulate_reports_a_port_in_use_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with Shell(["simulate", "--port", str(port)], dict(os.environ)) as shell:
            status, out, err = shell.finish()
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"evs-job-watch simulate: error: argument --port: {port} is in use on 127.0.0.1"
    ]


def test_simulate_accepts_localhost_and_stops_on_sigterm() -> None:
    with Shell(["simulate", "--host", "localhost"], dict(os.environ)) as shell:
        assert shell.out is not None
        line = shell.out.wait_for("\n")
        shell.signal(signal.SIGTERM)
        status, _, err = shell.finish()
    assert json.loads(line)["endpoint"].startswith("http://127.0.0.1:")
    assert status == 0
    assert_no_traceback(err)
