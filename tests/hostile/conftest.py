"""Fixtures of the hostile input tests: the simulator, a job that never ends, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from evs_job_watch import EvsJobClient, TokenAuth
from evs_job_watch.simulator import EvsSimulator


@pytest.fixture
def sim(evs_simulator: EvsSimulator) -> EvsSimulator:
    return evs_simulator


@pytest.fixture
def job_id(sim: EvsSimulator) -> str:
    return sim.add_job(timeline=[(0, "RUNNING")])  # a job that never ends by itself


@pytest.fixture
async def client(sim: EvsSimulator) -> AsyncIterator[EvsJobClient]:
    async with EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as evs:
        yield evs
