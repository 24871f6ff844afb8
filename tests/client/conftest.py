"""Fixtures of the client tests: a mocked aiohttp and a client with a fixed token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core

from evs_job_watch import EvsJobClient, TokenAuth

from .mocked import ENDPOINT, PROJECT, MockedApi, roomy_stream


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    monkeypatch.setattr(aioresponses_core, "stream_reader_factory", roomy_stream)
    with MockedApi() as mock:
        yield mock


@pytest.fixture
async def client() -> AsyncIterator[EvsJobClient]:
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth("tok-fixed")) as evs:
        yield evs
