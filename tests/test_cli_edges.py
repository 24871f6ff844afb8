"""The command line's small promises, tried at a shell: what its help says, a file saved
with a byte order mark, a credential half given."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .shell import Shell
from .threaded import CREDENTIAL_PREFIXES, QUICK, ThreadedSimulator

DONE = [(0.0, "SUCCESS")]


@pytest.fixture
def threaded() -> Iterator[ThreadedSimulator]:
    with ThreadedSimulator(seed=6) as threaded:
        yield threaded


def bare_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}


def test_watch_help_gives_the_timeout_default_and_every_exit_code() -> None:
    with Shell(["watch", "--help"], bare_environment()) as shell:
        status, out, err = shell.finish()
    assert (status, err) == (0, "")
    said = " ".join(out.split())  # argparse wraps lines where it likes
    assert "--timeout TIMEOUT seconds for all jobs together (default: 600; inf: no limit)" in said
    assert "129/130/143 stopped by SIGHUP/SIGINT/SIGTERM" in said


@pytest.mark.parametrize("where", ["file", "stdin"])
def test_a_byte_order_mark_before_the_first_id_is_no_bad_id(
    threaded: ThreadedSimulator, tmp_path: Path, where: str
) -> None:
    done = threaded.call(threaded.sim.add_job, timeline=DONE)
    text = f"\ufeff{done}\n".encode()  # as Notepad saves "UTF-8 with BOM"
    env = bare_environment()
    env.update(OS_AUTH_TOKEN=threaded.sim.token, OS_PROJECT_ID=threaded.sim.project_id)
    args = ["watch", "--endpoint", threaded.sim.endpoint, *QUICK, "-q"]
    if where == "file":
        ids = tmp_path / "ids.txt"
        ids.write_bytes(text)
        shell = Shell([*args, "--from-file", str(ids)], env)
    else:
        shell = Shell([*args, "-"], env, stdin=text)
    with shell:
        assert shell.finish() == (0, "", "")


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"OS_ACCESS_KEY": "AK0123"}, "OS_SECRET_KEY"),
        ({"OS_SECRET_KEY": "SK-CANARY-91"}, "OS_ACCESS_KEY"),
        ({"HUAWEICLOUD_SDK_AK": "AK0123"}, "HUAWEICLOUD_SDK_SK"),
        ({"CLOUD_SDK_SK": "SK-CANARY-91"}, "CLOUD_SDK_AK"),
        ({"OS_USERNAME": "me"}, "OS_PASSWORD"),
    ],
)
def test_a_credential_half_given_names_the_missing_variable(
    given: dict[str, str], missing: str
) -> None:
    env = {**bare_environment(), "OS_PROJECT_ID": "p1", **given}
    args = ["watch", "--endpoint", "https://evs.eu-de.otc.t-systems.com", "j1"]
    with Shell(args, env) as shell:
        status, out, err = shell.finish()
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1
    (name,) = given
    assert f"{name} is set but {missing} is not" in err
    assert "SK-CANARY-91" not in err
