"""PasswordAuth against the simulator's IAM: one token for every request, renewed ahead of
expiry and after a refusal, and a wrong password refused without being shown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from yarl import URL

from evs_job_watch import (
    AuthenticationError,
    ConnectionSetupError,
    EvsJobClient,
    JobWatcher,
    MalformedResponseError,
    PasswordAuth,
    PollPolicy,
    ServerError,
    ThrottledError,
)
from evs_job_watch.simulator import EvsSimulator

from .netkit import closed_port

CANARY = "SECRET-CANARY-31aa"
TOKENS = "/v3/auth/tokens"


def password_auth(sim: EvsSimulator, **changes: str | None) -> PasswordAuth:
    identity = sim.identity
    options: dict[str, str | None] = {
        "domain_name": identity.domain_name,
        "project_id": sim.project_id,
        **changes,
    }
    if "iam_endpoint" not in options:
        options["iam_endpoint"] = sim.endpoint
    password = options.pop("password", None) or identity.password
    return PasswordAuth(identity.username, password, **options)  # type: ignore[arg-type]


def iam_statuses(sim: EvsSimulator) -> list[int]:
    return [r.status for r in sim.requests if r.path == TOKENS]


async def test_one_token_serves_every_request() -> None:
    async with EvsSimulator(speed=100) as sim:
        jobs = [sim.add_job(timeline=[(0, "RUNNING")]) for _ in range(20)]
        auth = password_auth(sim)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            answers = await asyncio.gather(*(client.get_job(job) for job in jobs))
        assert [job.job_id for job in answers] == jobs
        assert iam_statuses(sim) == [201]
        assert len(sim.identity.issued_tokens) == 1


async def test_a_project_given_by_name_is_resolved_through_iam() -> None:
    async with EvsSimulator(speed=100) as sim:
        name = sim.identity.project_name
        auth = password_auth(sim, project_id=None, project_name=name)
        assert await auth.resolve_project_id() == sim.project_id
        job = sim.add_job(timeline=[(0, "RUNNING")])
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            await client.get_job(job)
        assert iam_statuses(sim) == [201]  # the token fetched for the name is reused


async def test_a_refused_token_is_renewed_once_and_the_request_retried() -> None:
    async with EvsSimulator(speed=100) as sim:
        job = sim.add_job(timeline=[(0, "RUNNING")])
        auth = password_auth(sim)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            await client.get_job(job)
            sim.identity.revoke()
            await asyncio.gather(*(client.get_job(job) for _ in range(10)))
        assert iam_statuses(sim) == [201, 201]  # ten refusals, one new token


async def test_a_token_is_renewed_before_it_expires() -> None:
    # A token of 40 simulated s at speed 100 lives 0.4 s; renewed 0.1 s before its end.
    async with EvsSimulator(speed=100, token_lifetime=40.0) as sim:
        job = sim.add_job(timeline=[(0, "RUNNING")])
        auth = password_auth(sim)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            await client.get_job(job)
            [first] = sim.identity.issued_tokens.values()
            await asyncio.sleep(max(0.0, first - 0.05 - asyncio.get_running_loop().time()))
            await client.get_job(job)
        assert iam_statuses(sim) == [201, 201]
        assert [r.status for r in sim.requests if r.job_id == job] == [200, 200]


async def test_a_wrong_password_is_final_and_never_shown() -> None:
    async with EvsSimulator(speed=100) as sim:
        job = sim.add_job(timeline=[(0, "RUNNING")])
        auth = password_auth(sim, password=CANARY)
        assert CANARY not in repr(auth) and "password=<redacted>" in repr(auth)
        policy = PollPolicy(interval=0.01, max_interval=0.02)
        async with (
            EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client,
            JobWatcher(client, policy=policy) as watcher,
        ):
            with pytest.raises(AuthenticationError) as caught:
                await asyncio.wait_for(watcher.wait(job), 30)
        error = caught.value
        assert error.status == 401 and error.job_id == job
        assert f"refused the password of user {sim.identity.username!r}" in str(error)
        assert CANARY not in f"{error} {error!r} {error.args}"
        assert iam_statuses(sim) == [401]
        assert not [r for r in sim.requests if r.job_id == job]  # no job query was sent


async def test_iam_unreachable_at_first_is_a_setup_error_naming_it() -> None:
    port = closed_port()
    async with EvsSimulator(speed=100) as sim:
        auth = password_auth(sim, iam_endpoint=f"http://127.0.0.1:{port}/v3")
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            with pytest.raises(ConnectionSetupError) as caught:
                await client.get_job("j1")
    assert (caught.value.host, caught.value.port, caught.value.job_id) == ("127.0.0.1", port, "j1")
    assert "connection refused" in str(caught.value)


async def test_iam_unreachable_after_it_worked_is_a_blip() -> None:
    async with EvsSimulator(speed=100) as sim:
        auth = password_auth(sim)
        url = URL(sim.endpoint)
        used = await auth.headers("GET", url)
    # The simulator is gone: the renewal after a refusal cannot reach IAM.
    with pytest.raises(ServerError, match="connection refused"):
        await auth.refresh(used)


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"project_id": None}, "exactly one"),
        ({"project_name": "p"}, "exactly one"),
        ({"project_id": "a/b"}, "project id"),
        ({"domain_name": ""}, "domain_name"),
        ({"iam_endpoint": "http://iam.example"}, "https"),
        ({"password": "pass word\n"}, "password"),
    ],
)
def test_bad_arguments_are_refused(changes: dict[str, str | None], text: str) -> None:
    sim = EvsSimulator()
    with pytest.raises(ValueError, match=text) as caught:
        password_auth(sim, **{"iam_endpoint": "https://iam.example", **changes})
    assert "pass word" not in str(caught.value)


def test_a_v3_suffix_is_accepted_as_in_clouds_yaml() -> None:
    sim = EvsSimulator()
    auth = password_auth(sim, iam_endpoint="https://iam.eu-de.otc.t-systems.com:443/v3")
    assert "iam='https://iam.eu-de.otc.t-systems.com:443'" in repr(auth)


@asynccontextmanager
async def fake_iam(status: int, body: bytes, headers: dict[str, str]) -> AsyncIterator[str]:
    """An IAM of one canned answer on 127.0.0.1; yields its endpoint."""

    async def tokens(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_post("/v3/auth/tokens", tokens)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "text"),
    [
        (
            400,
            b'{"error": {"code": 400, "message": "bad password ' + CANARY.encode() + b'"}}',
            {},
            AuthenticationError,
            "bad password <redacted>",
        ),
        (503, b"{}", {}, ServerError, "failed: no message"),
        (429, b"{}", {"Retry-After": "7"}, ThrottledError, "throttled"),
        (201, b'{"token": {}}', {}, AuthenticationError, "not a non-empty string"),
        (
            201,
            b'{"token": {"expires_at": "soon"}}',
            {"X-Subject-Token": "tok"},
            MalformedResponseError,
            "expires_at is not a time",
        ),
    ],
    ids=["400 quoting the password", "503", "429", "no token", "bad expiry"],
)
async def test_odd_iam_answers_give_clear_errors(
    status: int, body: bytes, headers: dict[str, str], error: type[Exception], text: str
) -> None:
    async with fake_iam(status, body, headers) as iam:
        auth = PasswordAuth("u", CANARY, domain_name="d", project_id="p1", iam_endpoint=iam)
        with pytest.raises(error, match=text) as caught:
            await auth.headers("GET", URL(iam))
    assert CANARY not in f"{caught.value} {caught.value!r}"
    if isinstance(caught.value, ThrottledError):
        assert caught.value.retry_after == 7.0
