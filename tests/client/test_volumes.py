"""EvsJobClient.list_volumes: disks in listings of 60, with a job query's errors and rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aioresponses import aioresponses

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    EvsApiError,
    EvsJobClient,
    MalformedResponseError,
    ServerError,
    ThrottledError,
    TokenAuth,
    Volume,
)
from evs_job_watch.simulator import EvsSimulator

from .mocked import ENDPOINT, PROJECT, api_error, gateway_error

LISTING = re.compile(rf"^{re.escape(ENDPOINT)}/v2/{PROJECT}/os-vendor-volumes/detail\?ids=.*$")


def _disk(volume_id: str, status: str = "available", **more: Any) -> dict[str, Any]:
    return {"id": volume_id, "status": status, "size": 10, "name": "d", **more}


async def test_disks_come_back_from_the_simulator_with_a_token_and_with_a_signature() -> None:
    async with EvsSimulator() as sim:
        made = [sim.add_volume(size=20) for _ in range(3)]
        for auth in (TokenAuth(sim.token), AkSkAuth(sim.access_key, sim.secret_key)):
            async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
                disks = await client.list_volumes([*made, "not-a-disk"])
            assert sorted(d.volume_id for d in disks) == sorted(made)
            assert {(d.status, d.size) for d in disks} == {("available", 20)}
            assert sim.requests[-1].status == 200


async def test_more_than_sixty_ids_are_split_into_listings_of_sixty() -> None:
    async with EvsSimulator() as sim:
        made = [sim.add_volume() for _ in range(130)]
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client:
            disks = await client.list_volumes(made + made[:5])  # repeats are read once
        listings = [r for r in sim.requests if r.path.endswith("/os-vendor-volumes/detail")]
        assert len(listings) == 3
        assert sorted(d.volume_id for d in disks) == sorted(made)


async def test_no_id_means_no_request(client: EvsJobClient, mocked: aioresponses) -> None:
    assert await client.list_volumes([]) == []
    assert not mocked.requests


@pytest.mark.parametrize("bad", ["a/b", "", "x" * 129, "a?b", 7])
async def test_an_unsafe_id_is_refused_before_any_request(
    client: EvsJobClient, mocked: aioresponses, bad: Any
) -> None:
    with pytest.raises(ValueError, match="invalid volume id"):
        await client.list_volumes(["ok-id", bad])
    assert not mocked.requests


async def test_a_bare_string_is_refused(client: EvsJobClient) -> None:
    with pytest.raises(TypeError, match="not a single string"):
        await client.list_volumes("abc")


async def test_attachments_and_unknown_keys(client: EvsJobClient, mocked: aioresponses) -> None:
    disk = _disk("v1", "in-use", attachments=[{"server_id": "s1"}, {"x": 1}], new_key=[1])
    mocked.get(LISTING, payload={"volumes": [disk], "count": 1})
    (volume,) = await client.list_volumes(["v1"])
    assert volume == Volume("v1", "in-use", 10, "d", ("s1",))
    assert volume.is_usable and not volume.is_error


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b"[]",
        b'{"count": 0}',
        b'{"volumes": {}}',
        b'{"volumes": [1]}',
        b'{"volumes": [{"id": "a/b", "status": "available"}]}',
        b'{"volumes": [{"id": "v1"}]}',
        b'{"volumes": [{"id": "v1", "status": "available", "size": true}]}',
        b'{"volumes": [{"id": "v1", "status": "available", "size": "10"}]}',
        b'{"volumes": [{"id": "v1", "status": "available", "attachments": {}}]}',
        b'{"volumes": [{"id": "v1", "status": "' + b"x" * 300 + b'"}]}',
    ],
)
async def test_a_body_that_is_not_a_listing_is_malformed(
    client: EvsJobClient, mocked: aioresponses, body: bytes
) -> None:
    mocked.get(LISTING, body=body, content_type="application/json")
    with pytest.raises(MalformedResponseError, match="malformed response"):
        await client.list_volumes(["v1"])


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, gateway_error("APIG.0308", "too many"), ThrottledError),
        (503, api_error("EVS.5503", "busy"), ServerError),
        (401, api_error("EVS.5401", "token expired"), AuthenticationError),
        (400, api_error("EVS.9999", "no"), EvsApiError),
        (200, api_error("EVS.9999", "an error in a 200"), EvsApiError),
    ],
)
async def test_refusals_are_the_errors_of_a_job_query(
    client: EvsJobClient,
    mocked: aioresponses,
    status: int,
    body: dict[str, Any],
    error: type[Exception],
) -> None:
    mocked.get(LISTING, status=status, payload=body, repeat=True)
    with pytest.raises(error) as raised:
        await client.list_volumes(["v1"])
    assert raised.type is error
    assert "tok-fixed" not in str(raised.value)


async def test_a_token_provider_is_asked_again_once_on_an_auth_error(
    mocked: aioresponses,
) -> None:
    tokens = iter(["old-token", "new-token"])

    async def provider() -> str:
        return next(tokens)

    mocked.get(LISTING, status=401, payload=api_error("EVS.5401", "token expired"))
    mocked.get(LISTING, payload={"volumes": [_disk("v1")], "count": 1})
    async with EvsJobClient(ENDPOINT, PROJECT, auth=TokenAuth(provider)) as client:
        (volume,) = await client.list_volumes(["v1"])
    assert volume.volume_id == "v1"
    sent = [
        call.kwargs["headers"]["X-Auth-Token"]
        for calls in mocked.requests.values()
        for call in calls
    ]
    assert sent == ["old-token", "new-token"]
