"""The scripts in examples/ run as written against the simulator, endpoint and
credentials from the environment as a user would give them."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evs_job_watch.simulator import Reply

from .shell import Shell
from .threaded import CREDENTIAL_PREFIXES, ThreadedSimulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DONE = [(0.0, "SUCCESS")]
FAILS = [(0.0, "FAIL")]
FOREVER = [(0.0, "RUNNING"), (3600.0, "SUCCESS")]


@pytest.fixture
def threaded() -> Iterator[ThreadedSimulator]:
    with ThreadedSimulator(seed=8) as threaded:
        yield threaded


def environment(threaded: ThreadedSimulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}
    env.update(
        EVS_ENDPOINT=threaded.sim.endpoint,
        OS_PROJECT_ID=threaded.sim.project_id,
        OS_AUTH_TOKEN=threaded.sim.token,
    )
    return env


def example(name: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name), *args]


def test_one_job_says_how_the_job_ended(threaded: ThreadedSimulator) -> None:
    done = threaded.call(threaded.sim.add_job, timeline=DONE)
    failed = threaded.call(threaded.sim.add_job, timeline=FAILS, fail=("EVS.2024", "no room"))
    env = environment(threaded)
    with Shell([], env, argv=example("one_job.py", done)) as shell:
        code, out, err = shell.finish()
    assert (code, err) == (0, "")
    assert out.startswith(f"{done} SUCCESS: volume ")
    with Shell([], env, argv=example("one_job.py", failed)) as shell:
        assert shell.finish() == (1, f"{failed} failed: [EVS.2024] no room\n", "")


def test_fan_out_reports_each_job_from_stdin(threaded: ThreadedSimulator) -> None:
    ids = [threaded.call(threaded.sim.add_job, timeline=DONE) for _ in range(3)]
    failed = threaded.call(threaded.sim.add_job, timeline=FAILS, fail=("EVS.2024", "no room"))
    stdin = "\n".join([*ids, failed]).encode() + b"\n"
    with Shell([], environment(threaded), argv=example("fan_out.py", "-"), stdin=stdin) as shell:
        code, out, err = shell.finish()
    lines = out.splitlines()
    assert (code, err) == (1, "")
    assert sorted(line.split()[1] for line in lines[:-1]) == sorted([*ids, failed])
    assert f"FAIL    {failed} [EVS.2024] no room" in lines
    assert lines[-1] == "4 jobs: 3 succeeded, 1 failed"


def test_the_service_keeps_its_watches_across_a_restart(
    threaded: ThreadedSimulator, tmp_path: Path
) -> None:
    state = tmp_path / "watches.json"
    done = threaded.call(threaded.sim.add_job, timeline=DONE)
    later = threaded.call(threaded.sim.add_job, timeline=FOREVER)
    env = environment(threaded)
    argv = example("service.py", "--state", str(state))
    with Shell([], env, argv=argv, stdin=f"{done}\n{later}\n".encode()) as shell:
        assert shell.out is not None
        shell.out.wait_for(f"completed {done}")
        shell.signal(signal.SIGTERM)
        code, out, err = shell.finish()
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "stopping; 1 watches saved"
    saved = state.read_text()
    assert later in saved
    assert done not in saved

    # The job ends while the service is down: the restarted service reports it.
    body = {
        "job_id": later,
        "job_type": "createVolume",
        "status": "SUCCESS",
        "begin_time": "2026-01-05T10:00:00.000Z",
        "end_time": "2026-01-05T10:01:00.000Z",
        "entities": {"volume_id": "5d7a1e0c-3f3c-4b4a-9a56-0e1bdb2e1c11"},
        "error_code": None,
        "fail_reason": None,
    }
    threaded.call(threaded.sim.inject, later, Reply(status=200, body=body))
    with Shell([], env, argv=argv, stdin=b"") as shell:
        code, out, err = shell.finish()
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "resumed 1 watches"
    assert out.splitlines()[1] == (
        f"completed {later}: volume 5d7a1e0c-3f3c-4b4a-9a56-0e1bdb2e1c11"
    )


@pytest.mark.parametrize("outcomes", [["FAIL"], ["SUCCESS", "FAIL"], ["FAIL", "SUCCESS"]])
def test_the_service_ends_by_itself_whichever_way_the_last_job_ends(
    threaded: ThreadedSimulator, tmp_path: Path, outcomes: list[str]
) -> None:
    ids = []
    for outcome in outcomes:
        if outcome == "FAIL":
            ids.append(threaded.call(threaded.sim.add_job, timeline=FAILS, fail=("E.1", "no")))
        else:
            ids.append(threaded.call(threaded.sim.add_job, timeline=DONE))
    argv = example("service.py", "--state", str(tmp_path / "watches.json"))
    stdin = "".join(f"{job_id}\n" for job_id in ids).encode()
    with Shell([], environment(threaded), argv=argv, stdin=stdin) as shell:
        code, out, err = shell.finish()
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "resumed 0 watches"
    for job_id, outcome in zip(ids, outcomes):
        said = "failed" if outcome == "FAIL" else "completed"
        assert any(line.startswith(f"{said} {job_id}") for line in lines)
