"""The evs-job-watch command line: exit codes, JSON lines, plain output, usage errors."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest

from evs_job_watch.cli import main

from .netkit import PROXY_VARIABLES, TunnelProxy
from .threaded import ThreadedSimulator, clear_credentials, run_watch, signed_in

DONE = [(0.0, "RUNNING"), (0.3, "SUCCESS")]


@pytest.fixture
def threaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedSimulator]:
    with signed_in(monkeypatch, seed=3) as threaded:
        yield threaded


def test_all_succeeded_exits_0_with_one_json_object_per_event(threaded: ThreadedSimulator) -> None:
    single = threaded.call(threaded.sim.add_job, timeline=DONE)
    batch = threaded.call(threaded.sim.add_job, sub_jobs=[DONE, [(0.0, "INIT"), (0.2, "SUCCESS")]])
    code, output = run_watch(threaded, "--json", single, batch)
    records = [json.loads(line) for line in output.splitlines()]
    summary = records.pop()
    assert code == 0
    assert (summary["event"], summary["total"], summary["succeeded"]) == ("summary", 2, 2)
    finals = {
        (r["job_id"], r["parent_id"]): r["status"] for r in records if r["status"] == "SUCCESS"
    }
    subs = threaded.call(threaded.sim.sub_job_ids, batch)
    assert set(finals) == {(single, None), (batch, None), *((sub, batch) for sub in subs)}
    first = next(r for r in records if r["job_id"] == single)
    assert (first["previous"], first["event"], first["job_type"]) == (
        None,
        "status",
        "createVolume",
    )


def test_a_failed_job_exits_1(threaded: ThreadedSimulator) -> None:
    ok = threaded.call(threaded.sim.add_job, timeline=DONE)
    bad = threaded.call(
        threaded.sim.add_job,
        timeline=[(0.0, "RUNNING"), (0.2, "FAIL")],
        fail=("EVS.2024", "no room"),
    )
    code, output = run_watch(threaded, "--json", ok, bad)
    failed = [json.loads(line) for line in output.splitlines() if '"FAIL"' in line]
    assert code == 1
    assert [(r["job_id"], r["error_code"], r["fail_reason"]) for r in failed] == [
        (bad, "EVS.2024", "no room")
    ]


def test_a_timeout_exits_3_and_says_so(threaded: ThreadedSimulator) -> None:
    slow = threaded.call(threaded.sim.add_job, timeline=[(0.0, "RUNNING"), (3600.0, "SUCCESS")])
    code, output = run_watch(threaded, "--json", "--timeout", "0.5", slow)
    errors = [json.loads(line) for line in output.splitlines() if '"event":"error"' in line]
    assert code == 3
    assert [(e["job_id"], e["error"]) for e in errors] == [(slow, "WatchTimeoutError")]


def test_refused_credentials_exit_3(
    threaded: ThreadedSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = threaded.call(threaded.sim.add_job, timeline=DONE)
    monkeypatch.setenv("OS_AUTH_TOKEN", "not-the-token")
    code, output = run_watch(threaded, "--json", job)
    [error, summary] = [json.loads(line) for line in output.splitlines()]
    assert summary["errors"][0]["error"] == "AuthenticationError"
    assert code == 3
    assert error["error"] == "AuthenticationError"
    assert "not-the-token" not in output


def test_access_keys_from_the_environment_sign_requests(
    threaded: ThreadedSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = threaded.call(threaded.sim.add_job, timeline=DONE)
    monkeypatch.delenv("OS_AUTH_TOKEN")
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", threaded.sim.access_key)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", threaded.sim.secret_key)
    code, _ = run_watch(threaded, job)
    assert code == 0


def test_plain_lines_when_stdout_is_not_a_terminal(threaded: ThreadedSimulator) -> None:
    job = threaded.call(threaded.sim.add_job, timeline=DONE)
    code, output = run_watch(threaded, job)
    assert code == 0
    assert f"{job} createVolume: - -> RUNNING" in output
    assert f"{job} createVolume: RUNNING -> SUCCESS" in output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--endpoint", "https://evs.example", "j1"], {"OS_PROJECT_ID": "p1"}, "no credentials"),
        (["--endpoint", "https://evs.example", "j1"], {"OS_AUTH_TOKEN": "t"}, "--project-id"),
        (["j1"], {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p1"}, "--region"),
        (["--region", "eu/de", "j1"], {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p1"}, "region"),
        (
            ["--endpoint", "http://evs.example", "j1"],
            {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p"},
            "https",
        ),
        (
            ["--endpoint", "https://e.x", "../j"],
            {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p"},
            "job id",
        ),
        (
            ["--endpoint", "https://e.x", "--timeout", "0", "j"],
            {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p"},
            "argument --timeout: must be a positive number of seconds (or inf for none)",
        ),
        (
            ["--endpoint", "https://e.x", "--interval", "2", "--max-interval", "1", "j"],
            {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p"},
            "--max-interval (1) must not be smaller than --interval (2)",
        ),
        (
            ["--endpoint", "https://e.x", "--project-id", "p/1", "j"],
            {"OS_AUTH_TOKEN": "t"},
            "--project-id (or $OS_PROJECT_ID): invalid project id 'p/1'",
        ),
        (
            ["--endpoint", "https://e.x?q=1", "j"],
            {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p"},
            "--endpoint 'https://e.x?q=1': endpoint must not carry a query",
        ),
        (
            ["--endpoint", "https://e.x", "--from-file", "/nonexistent/ids.txt"],
            {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p"},
            "--from-file /nonexistent/ids.txt: No such file or directory",
        ),
        (
            ["--endpoint", "https://e.x", "a" * 200],
            {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p"},
            f"invalid job id in JOB_ID argument 1 {'a' * 60!r}... (200 characters)",
        ),
    ],
)
def test_configuration_errors_exit_2_with_a_message(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    clear_credentials(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["watch", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evs-job-watch")
    assert ": error: " in err
    assert message in err
    assert len(err.splitlines()) == 1
    assert "allow_insecure_http" not in err


def test_usage_errors_exit_2_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch"]) == 2
    assert capsys.readouterr().err == (
        "evs-job-watch: error: no job ids: give JOB_ID arguments, - to read stdin, or --from-file\n"
    )
    assert main(["demo", "--jobs", "-1"]) == 2
    assert capsys.readouterr().err == (
        "evs-job-watch demo: error: argument --jobs: must be 0 or more, got -1 "
        "(see evs-job-watch demo --help)\n"
    )


def test_an_http_endpoint_is_refused_in_the_flag_s_terms(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_credentials(monkeypatch)
    monkeypatch.setenv("OS_AUTH_TOKEN", "t")
    args = ["watch", "--endpoint", "http://evs.example", "--project-id", "p", "j"]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        "evs-job-watch: error: --endpoint 'http://evs.example': must use https:// "
        "(http:// only to a loopback host)\n"
    )


def test_region_picks_the_cloud_endpoint(
    threaded: ThreadedSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command line runs for real behind a loopback proxy that refuses every tunnel:
    # the tunnel asked for names the endpoint picked, and nothing leaves the machine.
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    proxy = threaded.run(TunnelProxy(refuse=403).__aenter__())
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)

    def endpoint(*argv: str, **more: str) -> str:
        out = io.StringIO()
        with monkeypatch.context() as env:
            for name, value in more.items():
                env.setenv(name, value)
            assert main(["watch", *argv, "j"], out=out) == 3  # the tunnel was refused
        (tunnel,) = proxy.tunnels
        proxy.tunnels.clear()
        host = tunnel.removesuffix(":443")
        assert f"cannot connect to https://{host}:443 through the proxy" in out.getvalue()
        return f"https://{host}"

    try:
        assert endpoint("--region", "eu-de") == "https://evs.eu-de.otc.t-systems.com"
        assert endpoint("--cloud", "huawei", "--region", "ap-southeast-1") == (
            "https://evs.ap-southeast-1.myhuaweicloud.com"
        )
        assert endpoint(OS_REGION_NAME="eu-nl") == "https://evs.eu-nl.otc.t-systems.com"
        assert endpoint("--service", "ecs", "--region", "eu-ch2") == (
            "https://ecs.eu-ch2.sc.otc.t-systems.com"
        )
    finally:
        threaded.run(proxy.__aexit__(None, None, None))


def test_demo_runs_to_a_summary() -> None:
    out = io.StringIO()
    assert main(["demo", "--speed", "100", "--jobs", "4"], out=out) == 0
    text = out.getvalue()
    assert "succeeded / failed" in text
    assert "watch errors" in text
    assert "polls made" in text


def test_demo_with_replicas_shows_a_takeover() -> None:
    out = io.StringIO()
    assert main(["demo", "--replicas", "3", "--speed", "50", "--jobs", "30"], out=out) == 0
    text = out.getvalue()
    assert "stopping replica c" in text
    assert "jobs taken over from c" in text
    assert "30 of 30 jobs seen to their end" in text


def test_demo_refuses_no_replicas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--replicas", "0"]) == 2
    assert "argument --replicas: must be 1 or more, got 0" in capsys.readouterr().err


async def test_simulate_serves_the_api_until_terminated() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evs_job_watch",
        "simulate",
        "--port",
        "0",
        "--speed",
        "50",
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    info = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
    url = f"{info['endpoint']}/v2/{info['project_id']}/cloudvolumes"
    headers = {"X-Auth-Token": info["token"]}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(url, json={"volume": {"size": 10, "volume_type": "SSD"}}) as response:
            job_id = (await response.json())["job_id"]
        job_url = f"{info['endpoint']}/v1/{info['project_id']}/jobs/{job_id}"
        async with http.get(job_url) as response:
            assert response.status == 200
            assert (await response.json())["job_id"] == job_id
    process.terminate()
    assert await asyncio.wait_for(process.wait(), 30) == 0


def test_python_m_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evs_job_watch", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("evs-job-watch ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "10.0.0.1"], "argument --host: the simulator listens on loopback only"),
        (["--host", "example.org"], "(127.0.0.1, ::1 or localhost), not 'example.org'"),
        (["--port", "http"], "argument --port: 'http' is not a port number"),
        (["--speed", "0"], "argument --speed: must be a number above 0, got 0"),
        (["--failure-rate", "2"], "argument --failure-rate: must be a number from 0 to 1"),
        (["--latency", "2", "1"], "argument --latency: latency must be (min, max)"),
        (["--throttle", "0.6", "--drop", "0.6"], "argument --server-error/--throttle/"),
        (["--keep-requests", "0"], "argument --keep-requests: must be a whole number of 1"),
    ],
)
def test_simulate_usage_errors_are_one_line_naming_the_flag(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["simulate", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evs-job-watch simulate: error: ")
    assert message in err
    assert len(err.splitlines()) == 1


def test_simulate_in_process_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["simulate", "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"evs-job-watch simulate: error: argument --port: {port} is in use on 127.0.0.1\n"
    )
