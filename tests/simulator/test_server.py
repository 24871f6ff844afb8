"""Server lifecycle, the standalone entry point, and the public names."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import os
import runpy
import signal
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

import evs_job_watch.simulator as simulator
from evs_job_watch.simulator import EvsSimulator, main
from evs_job_watch.simulator._standalone import build_parser, serve, simulator_from_args


class LineOut(io.StringIO):
    """A stream that says when something was written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


def test_all_is_sorted_and_exactly_the_public_names() -> None:
    # "@py_builtins" and the like: pytest's assertion rewriting, when it covers the package.
    public = {name for name in vars(simulator) if not name.startswith(("_", "@"))}
    public -= {"annotations", "pytest_plugin"}  # the plugin submodule, once imported
    assert simulator.__all__ == sorted(simulator.__all__)
    assert set(simulator.__all__) == public


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"host": "0.0.0.0"}, "loopback"),
        ({"speed": 0}, "speed"),
        ({"failure_rate": 2}, "failure_rate"),
        ({"invisible_for": -1}, "invisible_for"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EvsSimulator(**options)  # type: ignore[arg-type]


async def test_start_stop_and_endpoint() -> None:
    sim = EvsSimulator(project_id="p" * 32, token="t", access_key="a", secret_key="s")
    with pytest.raises(RuntimeError, match="not started"):
        _ = sim.endpoint
    await sim.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            await sim.start()
        assert (sim.project_id, sim.token, sim.access_key, sim.secret_key) == (
            "p" * 32,
            "t",
            "a",
            "s",
        )
    finally:
        await sim.stop()
    await sim.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = sim.endpoint


async def test_ipv6_loopback_endpoint_is_bracketed() -> None:
    sim = EvsSimulator(host="::1")
    await sim.start()
    try:
        assert sim.endpoint.startswith("http://[::1]:")
    finally:
        await sim.stop()


async def test_a_port_in_use_is_an_error_and_leaves_nothing_open() -> None:
    async with EvsSimulator() as first:
        port = int(first.endpoint.rsplit(":", 1)[1])
        with pytest.raises(OSError, match=r"(?i)in use"):
            await EvsSimulator(port=port).start()


async def test_serve_forever_runs_until_cancelled() -> None:
    sim = EvsSimulator()
    task = asyncio.ensure_future(sim.serve_forever())
    endpoint = None
    for _ in range(1000):  # until it has started on its own: its endpoint is known then
        await asyncio.sleep(0.01)
        with contextlib.suppress(RuntimeError):  # "the simulator is not started"
            endpoint = sim.endpoint
            break
    assert endpoint is not None
    assert endpoint.startswith("http://127.0.0.1:")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(RuntimeError):
        _ = sim.endpoint


async def test_serve_prints_how_to_connect(http: aiohttp.ClientSession) -> None:
    args = build_parser().parse_args(
        ["--speed", "10", "--throttle", "0.5", "--latency", "0", "0.01", "--keep-requests", "5"]
    )
    sim = simulator_from_args(args)
    assert sim.faults.throttle == 0.5 and sim.faults.latency == (0.0, 0.01)
    out = LineOut()
    task = asyncio.ensure_future(serve(sim, out))
    await asyncio.wait_for(out.written.wait(), 10)
    info = orjson.loads(out.getvalue())
    assert info["endpoint"] == sim.endpoint and info["token"] == sim.token
    url = f"{info['endpoint']}/v1/{info['project_id']}/jobs/{'0' * 32}"
    async with http.get(url, headers={"X-Auth-Token": info["token"]}) as response:
        assert response.status in (400, 429)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_main_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--host", "192.0.2.1"])
    assert exc.value.code == 2
    assert "loopback" in capsys.readouterr().err


class StopOnWrite(io.StringIO):
    """Sends this process SIGTERM once the server has announced itself."""

    def write(self, text: str) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        return super().write(text)


def test_main_serves_until_sigterm() -> None:
    out = StopOnWrite()
    assert main(["--speed", "10", "--seed", "2"], out=out) == 0
    assert orjson.loads(out.getvalue())["project_id"] == EvsSimulator(seed=2).project_id


def test_python_dash_m_runs_main(monkeypatch: pytest.MonkeyPatch) -> None:
    out = StopOnWrite()
    monkeypatch.setattr(sys, "argv", ["evs_job_watch.simulator", "--speed", "10"])
    monkeypatch.setattr(sys, "stdout", out)
    # An installed pytest plugin's package has its asserts rewritten by pytest, whose
    # loader cannot hand runpy the code of __main__: find the module the plain way.
    finders = [
        finder for finder in sys.meta_path if type(finder).__name__ != "AssertionRewritingHook"
    ]
    monkeypatch.setattr(sys, "meta_path", finders)
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("evs_job_watch.simulator", run_name="__main__")
    assert exc.value.code == 0
    assert "endpoint" in orjson.loads(out.getvalue())


async def test_the_module_runs_a_server_until_sigterm(http: aiohttp.ClientSession) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evs_job_watch.simulator", "--speed", "100",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        info = orjson.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        url = f"{info['endpoint']}/v1/{info['project_id']}/jobs/{'0' * 32}"
        async with http.get(url, headers={"X-Auth-Token": info["token"]}) as response:
            assert response.status == 400
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_the_simulator_imports_nothing_of_the_library() -> None:
    package = Path(simulator.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, path
                assert node.level == 1 or not (node.module or "").startswith("evs_job_watch"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("evs_job_watch") for a in node.names), path
