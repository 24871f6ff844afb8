"""``evs-job-watch demo --replicas N`` at a shell: every way it can fail or be stopped
ends as plain ``demo`` does (one line, exit 2 / 141 / 130), and ``--redis-url`` goes with
``--replicas`` only."""

from __future__ import annotations

import os
import signal

import pytest

from evs_job_watch.cli import main

from .netkit import closed_port
from .shell import Shell
from .threaded import CREDENTIAL_PREFIXES

CANARY = "SECRET-CANARY-7d1e"


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}


def one_line(err: str) -> str:
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--redis-url", "redis://127.0.0.1:6379/0"], "--redis-url goes with --replicas"),
        (["--replicas", "1", "--redis-url", "redis://127.0.0.1:6379/0"], "--replicas"),
        (["--replicas", "2", "--redis-url", "notaurl"], "argument --redis-url:"),
        (["--replicas", "2", "--redis-url", f"http://u:{CANARY}@h/0"], "argument --redis-url:"),
    ],
)
def test_a_redis_url_that_cannot_serve_is_a_usage_error(args: list[str], named: str) -> None:
    with Shell(["demo", *args], environment()) as shell:
        status, out, err = shell.finish()
    assert (status, out) == (2, "")
    assert named in one_line(err)
    assert CANARY not in err


def test_a_redis_that_does_not_answer_is_one_line_naming_it_without_its_password() -> None:
    url = f"redis://user:{CANARY}@127.0.0.1:{closed_port()}/0"
    with Shell(["demo", "--replicas", "2", "--redis-url", url], environment()) as shell:
        status, out, err = shell.finish()
    assert (status, out) == (2, "")
    assert "--redis-url: cannot reach Redis at 127.0.0.1:" in one_line(err)
    assert CANARY not in err


def test_no_redis_server_binary_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evs_job_watch.redis import _demo

    def missing() -> str:
        raise FileNotFoundError("no redis-server binary: pip install ...")

    monkeypatch.setattr(_demo, "find_redis_server", missing)
    assert main(["demo", "--replicas", "2"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "evs-job-watch: error: --replicas without --redis-url starts a private Redis: "
        "no redis-server binary: pip install ...\n"
    )


def test_a_closed_pipe_ends_the_replicas_demo_quietly() -> None:
    args = ["demo", "--replicas", "2", "--speed", "1", "--jobs", "4"]
    with Shell(args, environment(), read_stdout=False) as shell:
        first = shell.head()  # as `evs-job-watch demo --replicas 2 | head -1`
        status, _, err = shell.finish()
    assert b"replicas share 4 jobs" in first
    assert (status, err) == (141, "")


def test_ctrl_c_stops_the_replicas_demo_with_one_line() -> None:
    args = ["demo", "--replicas", "2", "--speed", "1", "--jobs", "4"]
    with Shell(args, environment(), terminal=True) as shell:
        assert shell.out is not None
        shell.out.wait_for("ended")
        shell.signal(signal.SIGINT)
        status, _, err = shell.finish()
    assert status == 130
    assert one_line(err) == "evs-job-watch: stopped by SIGINT\n"
