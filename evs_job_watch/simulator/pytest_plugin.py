"""pytest fixtures that run an `EvsSimulator` for each test.

Loaded automatically (pytest11 entry point) when evs-job-watch is installed, and
only when pytest-asyncio is installed too. Use it in one line::

    async def test_disk_job(evs_simulator): ...  # a started EvsSimulator, stopped after

Defaults: `speed=100` (100 simulated seconds per real second, so most jobs end
within 0.05-0.5 s), `seed=0`, no failures or faults. Override the fixture
`evs_simulator_options` to return other `EvsSimulator` keywords, e.g.
`{"failure_rate": 0.2, "faults": Faults(throttle=0.1)}`, or
`{"speed": 1.0, "rate_limit": RateLimit(50)}` for the API gateway's account-wide token
bucket (50 job queries per simulated second).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._simulator import EvsSimulator

__all__ = ["DEFAULT_OPTIONS"]

DEFAULT_OPTIONS: dict[str, Any] = {"speed": 100.0, "seed": 0}

try:
    import pytest_asyncio
except ImportError:  # no pytest-asyncio: register nothing, break nothing
    pytest_asyncio = None  # type: ignore[assignment]

if pytest_asyncio is not None:

    @pytest.fixture
    def evs_simulator_options() -> dict[str, Any]:
        """Keywords for `EvsSimulator` on top of the defaults; override to customise."""
        return {}

    @pytest_asyncio.fixture
    async def evs_simulator(evs_simulator_options: dict[str, Any]) -> AsyncIterator[EvsSimulator]:
        """A started `EvsSimulator` on 127.0.0.1, stopped after the test."""
        # Imported here so that loading the plugin in every pytest run stays cheap.
        from ._simulator import EvsSimulator

        async with EvsSimulator(**{**DEFAULT_OPTIONS, **evs_simulator_options}) as simulator:
            yield simulator
