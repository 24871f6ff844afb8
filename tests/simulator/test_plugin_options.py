"""Overriding `evs_simulator_options` customises the fixture."""

from __future__ import annotations

import pytest

from evs_job_watch.simulator import EvsSimulator, Faults


@pytest.fixture
def evs_simulator_options() -> dict[str, object]:
    return {"speed": 5.0, "seed": 9, "faults": Faults(throttle=0.5)}


async def test_the_options_reach_the_simulator(evs_simulator: EvsSimulator) -> None:
    assert evs_simulator.speed == 5.0
    assert evs_simulator.faults == Faults(throttle=0.5)
    assert evs_simulator.project_id == EvsSimulator(seed=9).project_id
