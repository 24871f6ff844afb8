from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

import pytest
import redis.asyncio as aioredis

from evs_job_watch.redis import RedisServer

from .canary import Exposure, exposed
from .clock import VirtualClockLoop
from .netkit import PROXY_VARIABLES
from .threaded import clear_credentials

# Loaded here rather than through its pytest11 entry point (disabled in pyproject.toml),
# so that coverage is already measuring when the package is first imported.
pytest_plugins = ["evs_job_watch.simulator.pytest_plugin"]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers per core. Most tests wait (on timers, servers on loopback,
    child processes) rather than compute, so a core runs two of them: on two cores the
    suite took 112 s with four workers against 165 s with two."""
    return 2 * (os.cpu_count() or 1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "virtual_clock: run the test on an event loop whose clock never waits"
    )


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.get_closest_marker("virtual_clock"):
        return {"virtual_clock": VirtualClockLoop}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """A test that leaves a logger's level or handlers changed fails (later tests would
    capture records they never expected, depending on the order)."""

    def state() -> list[tuple[int, bool, int]]:
        return [
            (logger.level, logger.propagate, len(logger.handlers))
            for logger in (logging.root, logging.getLogger("evs_job_watch"))
        ]

    before = state()
    yield
    assert state() == before, "the test left logging changed"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One private redis-server for the session, on a free loopback port (no disk)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def direct(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of the session's server of the test's own, to read or set the fleet's keys."""
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of the test's own, so tests sharing the server never meet."""
    return "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]


@pytest.fixture
def exposure(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[Exposure]:
    """Every logger tapped at DEBUG; the test searches all it met with ``assert_clean()``."""
    with exposed(caplog, capsys) as found:
        yield found


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No credential from the machine's environment reaches the command line under test."""
    clear_credentials(monkeypatch)
    return monkeypatch


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable from the machine's environment reaches the requests under test."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
