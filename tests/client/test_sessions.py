"""EvsJobClient's HTTP session: closed when the client made it, never when the caller owns it."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from evs_job_watch import EvsJobClient

from ..hostile.answers import job_json
from .mocked import ENDPOINT, JOB, JOB_URL, PROJECT


async def test_client_closes_the_session_it_created(
    mocked: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession

    def recording(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real(*args, **kwargs)
        created.append(session)
        return session

    monkeypatch.setattr(aiohttp, "ClientSession", recording)
    mocked.get(JOB_URL, payload=job_json(JOB))
    async with EvsJobClient(ENDPOINT, PROJECT) as client:
        await client.get_job(JOB)
        assert len(created) == 1
        assert not created[0].closed
    assert created[0].closed


async def test_client_that_never_sent_a_request_closes_cleanly() -> None:
    async with EvsJobClient(ENDPOINT, PROJECT) as client:
        pass
    await client.aclose()  # closing twice is harmless


async def test_client_never_closes_the_callers_session(mocked: aioresponses) -> None:
    mocked.get(JOB_URL, payload=job_json(JOB))
    mocked.get(JOB_URL, payload=job_json(JOB, status="SUCCESS"))
    async with aiohttp.ClientSession() as session:
        async with EvsJobClient(ENDPOINT, PROJECT, session=session) as client:
            await client.get_job(JOB)
        await client.aclose()
        assert not session.closed
        async with session.get(JOB_URL) as response:  # still usable by its owner
            assert response.status == 200


@pytest.mark.parametrize("own_session", [False, True])
async def test_a_closed_client_refuses_to_query_instead_of_opening_a_session_again(
    mocked: aioresponses, own_session: bool
) -> None:
    mocked.get(JOB_URL, payload=job_json(JOB), repeat=True)
    async with aiohttp.ClientSession() as session:
        given = session if own_session else None
        async with EvsJobClient(ENDPOINT, PROJECT, session=given) as client:
            await client.get_job(JOB)
        with pytest.raises(RuntimeError, match=r"client is closed"):
            await client.get_job(JOB)
        with pytest.raises(RuntimeError, match=r"client is closed"):
            await client.poll_job(JOB)
        assert not session.closed  # the caller's session is still the caller's
