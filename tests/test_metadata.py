"""MetadataCredentials against loopback stand-ins of the ECS metadata service: the
simulator's (session tokens or not) and small aiohttp.web apps for its odd answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import orjson
import pytest
from aiohttp import web

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    ConnectionSetupError,
    Credentials,
    EvsJobClient,
    MalformedResponseError,
    MetadataCredentials,
    ServerError,
)
from evs_job_watch.simulator import EvsSimulator

from .netkit import closed_port

CANARY = "SECRET-CANARY-9b41"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def stand_in(routes: dict[tuple[str, str], Handler]) -> AsyncIterator[str]:
    """A metadata service of a few canned answers on 127.0.0.1; yields its base URL."""
    app = web.Application()
    for (method, path), handler in routes.items():
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def answer(status: int, body: bytes = b"") -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body)

    return handler


def metadata_paths(sim: EvsSimulator) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in sim.requests if r.job_id is None]


async def test_keys_are_read_with_a_session_token_that_is_reused() -> None:
    async with EvsSimulator(speed=100) as sim:
        source = MetadataCredentials(sim.endpoint)
        keys = await source()
        again = await source()
    issued = sim.identity.issued_keys[0]
    assert keys == again
    assert (keys.access_key, keys.secret_key, keys.security_token) == (
        issued.access_key,
        issued.secret_key,
        issued.security_token,
    )
    assert keys.expires_at is not None
    left = keys.expires_at.timestamp() - datetime.now(timezone.utc).timestamp()
    assert 30 < left <= 37  # an hour at speed 100
    assert metadata_paths(sim) == [
        ("PUT", "/meta-data/latest/api/token", 200),
        ("GET", "/openstack/latest/securitykey", 200),
        ("GET", "/openstack/latest/securitykey", 200),
    ]


async def test_an_older_service_without_session_tokens_is_read_without_one() -> None:
    async with EvsSimulator(speed=100, metadata_session_tokens=False) as sim:
        source = MetadataCredentials(sim.endpoint)
        await source()
        await source()
    assert metadata_paths(sim) == [
        ("PUT", "/meta-data/latest/api/token", 404),
        ("GET", "/openstack/latest/securitykey", 200),
        ("GET", "/openstack/latest/securitykey", 200),  # not asked for a token again
    ]


async def test_an_expired_session_token_is_replaced_once() -> None:
    async with EvsSimulator(speed=100) as sim:
        source = MetadataCredentials(sim.endpoint)
        await source()
        sim.identity.expire_session_tokens()
        await source()
    assert [status for _, _, status in metadata_paths(sim)] == [200, 200, 401, 200, 200]


async def test_metadata_keys_sign_job_queries_and_are_renewed_before_they_expire() -> None:
    # Keys of 60 simulated s at speed 100: they live 0.6 s, are replaced 0.1 s before
    # their end, and the auth renews them 0.05 s before it.
    async with EvsSimulator(speed=100, key_lifetime=60.0) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        auth = AkSkAuth.from_provider(MetadataCredentials(sim.endpoint))
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            for _ in range(400):
                assert (await client.get_job(job_id)).job_id == job_id
                if len(sim.identity.issued_keys) > 1:
                    break
                await asyncio.sleep(0.01)
            assert (await client.get_job(job_id)).job_id == job_id
    first, second = sim.identity.issued_keys[:2]
    signed = [r for r in sim.requests if r.job_id == job_id]
    assert signed[-1].status == 200
    assert second.expires > first.expires


@pytest.mark.parametrize(
    ("routes", "error", "text"),
    [
        ({("GET", "/openstack/latest/securitykey"): answer(404)}, AuthenticationError, "agency"),
        ({("GET", "/openstack/latest/securitykey"): answer(503)}, ServerError, "HTTP 503"),
        ({("PUT", "/meta-data/latest/api/token"): answer(500)}, ServerError, "session token"),
        (
            {("GET", "/openstack/latest/securitykey"): answer(200, b'{"credential": 5}')},
            MalformedResponseError,
            "not readable",
        ),
    ],
    ids=["no agency", "503", "token 500", "junk"],
)
async def test_odd_answers_give_clear_errors(
    routes: dict[tuple[str, str], Handler], error: type[Exception], text: str
) -> None:
    async with stand_in(routes) as base:
        with pytest.raises(error, match=text):
            await MetadataCredentials(base)()


async def test_an_unreadable_key_is_reported_without_quoting_it() -> None:
    body = orjson.dumps({"credential": {"access": "ak", "secret": CANARY, "securitytoken": "st"}})
    routes = {("GET", "/openstack/latest/securitykey"): answer(200, body)}
    async with stand_in(routes) as base:
        with pytest.raises(MalformedResponseError) as caught:
            await MetadataCredentials(base)()
    assert "KeyError" in str(caught.value)
    assert CANARY not in f"{caught.value} {caught.value!r} {caught.value.excerpt}"


async def test_an_unreachable_service_is_a_setup_error_naming_it() -> None:
    port = closed_port()
    with pytest.raises(ConnectionSetupError) as caught:
        await MetadataCredentials(f"http://127.0.0.1:{port}")()
    assert str(caught.value) == f"cannot connect to http://127.0.0.1:{port}: connection refused"


async def test_the_service_is_never_reached_through_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    async with EvsSimulator(speed=100) as sim:
        keys = await MetadataCredentials(sim.endpoint)()
    assert isinstance(keys, Credentials)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="base_url"):
        MetadataCredentials("169.254.169.254")
    with pytest.raises(ValueError, match="session_token_ttl"):
        MetadataCredentials(session_token_ttl=0)
    assert repr(MetadataCredentials()) == "MetadataCredentials('http://169.254.169.254')"
