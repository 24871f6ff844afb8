"""The pytest plugin: the `evs_simulator` fixture, its options, and its guard."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from evs_job_watch.simulator import EvsSimulator, pytest_plugin

USER_TEST = """
import aiohttp
import pytest


@pytest.fixture
def evs_simulator_options():
    return {"seed": 3, "speed": 50.0}


@pytest.mark.asyncio
async def test_user_service(evs_simulator):
    assert evs_simulator.speed == 50.0
    job_id = evs_simulator.create_job()
    url = f"{evs_simulator.endpoint}/v1/{evs_simulator.project_id}/jobs/{job_id}"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"X-Auth-Token": evs_simulator.token}) as response:
            assert response.status == 200
"""


async def test_the_fixture_gives_a_started_fast_simulator(evs_simulator: EvsSimulator) -> None:
    assert evs_simulator.endpoint.startswith("http://127.0.0.1:")
    assert evs_simulator.speed == pytest_plugin.DEFAULT_OPTIONS["speed"] == 100.0


def test_without_pytest_asyncio_no_fixture_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pytest_asyncio", None)
    spec = importlib.util.spec_from_file_location("_plugin_copy", pytest_plugin.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not hasattr(module, "evs_simulator")
    assert not hasattr(module, "evs_simulator_options")


def test_a_user_suite_gets_the_fixture_from_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"]
    installed = any(ep.name == "evs_job_watch" for ep in entry_points(group="pytest11"))
    if not installed:  # running from a checkout: load the plugin by name instead
        args[3:3] = ["-p", "evs_job_watch.simulator.pytest_plugin"]
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
