"""Shared fixtures for the simulator tests: raw aiohttp against a running simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

# Imported (not only loaded by the pytest11 entry point) so these tests do not
# depend on how the package is installed or on `-p no:evs_job_watch`.
from evs_job_watch.simulator import EvsSimulator
from evs_job_watch.simulator.pytest_plugin import (  # noqa: F401 - fixtures
    evs_simulator,
    evs_simulator_options,
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


def job_url(sim: EvsSimulator, job_id: str, project_id: str | None = None) -> str:
    """The job query URL of `job_id` on `sim`."""
    return f"{sim.endpoint}/v1/{project_id or sim.project_id}/jobs/{job_id}"


@pytest.fixture
def get_job(http: aiohttp.ClientSession) -> Callable[..., Awaitable[tuple[int, Any, bytes]]]:
    """GET a job with the simulator's token (or `headers`); return status, headers, body."""

    async def fetch(
        sim: EvsSimulator, job_id: str, *, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, bytes]:
        sent = {"X-Auth-Token": sim.token} if headers is None else headers
        async with http.get(job_url(sim, job_id), headers=sent) as response:
            return response.status, response.headers, await response.read()

    return fetch
