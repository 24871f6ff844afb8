"""Temporary AK/SK: the security token in the signature, and keys from a provider renewed
before they expire and after a refusal, one fetch at a time."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from yarl import URL

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    Credentials,
    EvsJobClient,
    ServerError,
    TokenAuth,
)
from evs_job_watch._credentials._auth import sign_request
from evs_job_watch.simulator import EvsSimulator
from evs_job_watch.simulator._signing import verify

URL_ANY = URL("https://evs.eu-de.otc.t-systems.com/v1/p1/jobs/j1")
CANARY = "SECRET-CANARY-7c2d"
HOUR = 3600.0


def in_(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


class KeyProvider:
    """Hands out ``ak-1``/``sk-1``/``st-1``, ``ak-2``... each lasting ``lifetime`` seconds."""

    def __init__(self, lifetime: float | None = HOUR) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.fail: Exception | None = None

    async def __call__(self) -> Credentials:
        self.calls += 1
        await asyncio.sleep(0)  # a real provider awaits the network: let callers pile up
        if self.fail is not None:
            raise self.fail
        n = self.calls
        expires = None if self.lifetime is None else in_(self.lifetime)
        return Credentials(f"ak-{n}", f"sk-{n}", security_token=f"st-{n}", expires_at=expires)


def access_of(headers: object) -> str:
    match = re.search(r"Access=([^,]+),", dict(headers)["Authorization"])  # type: ignore[call-overload]
    assert match is not None
    return match.group(1)


# -- the security token in the signature ------------------------------------------------------


def test_a_security_token_is_sent_and_signed() -> None:
    date = "20240314T092105Z"
    headers = sign_request("GET", URL_ANY, "ak", b"sk", date, security_token="st-1")
    assert headers["X-Security-Token"] == "st-1"
    assert "SignedHeaders=host;x-sdk-date;x-security-token," in headers["Authorization"]
    plain = sign_request("GET", URL_ANY, "ak", b"sk", date)
    assert "X-Security-Token" not in plain
    assert "SignedHeaders=host;x-sdk-date," in plain["Authorization"]
    other = sign_request("GET", URL_ANY, "ak", b"sk", date, security_token="st-2")
    signatures = {h["Authorization"] for h in (headers, plain, other)}
    assert len(signatures) == 3  # the token is part of what is signed


def test_the_simulators_independent_verifier_accepts_the_signed_token() -> None:
    now = time.time()
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    headers = sign_request("GET", URL_ANY, "ak", b"sk", date, security_token="st-1")

    def check(sent: dict[str, str]) -> str | None:
        return verify(
            method="GET",
            path=URL_ANY.raw_path,
            raw_query="",
            headers=sent,
            body=b"",
            credentials={"ak": "sk"},
            security_tokens={"ak": "st-1"},
            now=now,
        )

    assert check(headers) is None
    assert check({**headers, "X-Security-Token": "st-2"}) is not None
    unsigned = sign_request("GET", URL_ANY, "ak", b"sk", date)
    assert check({**unsigned, "X-Security-Token": "st-1"}) == "X-Security-Token must be signed"


async def test_fixed_temporary_keys_sign_with_their_token_and_cannot_be_renewed() -> None:
    auth = AkSkAuth("ak", "sk", security_token="st-1")
    headers = await auth.headers("GET", URL_ANY)
    assert headers["X-Security-Token"] == "st-1"
    assert headers == sign_request(
        "GET", URL_ANY, "ak", b"sk", headers["X-Sdk-Date"], security_token="st-1"
    )
    assert await auth.refresh(headers) is False


@pytest.mark.parametrize("template", ["", " {}", "{}\n", "s\x00{}"])
def test_a_security_token_that_is_not_clean_text_is_refused_without_quoting_it(
    template: str,
) -> None:
    with pytest.raises(ValueError, match="security_token") as caught:
        AkSkAuth("ak", "sk", security_token=template.format(CANARY))
    assert CANARY not in str(caught.value)


# -- Credentials ------------------------------------------------------------------------------


def test_credentials_hide_their_secrets_in_repr_and_str() -> None:
    keys = Credentials("AK-" + CANARY, "SK-" + CANARY, security_token="ST-" + CANARY)
    for text in (repr(keys), str(keys)):
        assert CANARY not in text
    assert "security_token=<redacted>" in repr(keys)


@pytest.mark.parametrize(
    "fields",
    [
        {"access_key": ""},
        {"secret_key": "s k\n"},
        {"security_token": ""},
        {"expires_at": datetime(2030, 1, 1)},  # naive: which zone?
        {"expires_at": "2030-01-01T00:00:00Z"},
    ],
)
def test_credentials_check_their_fields(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Credentials(**{"access_key": "ak", "secret_key": "sk", **fields})  # type: ignore[arg-type]


# -- keys from a provider -------------------------------------------------------------------


async def test_the_provider_is_called_once_for_the_first_requests() -> None:
    provider = KeyProvider()
    auth = AkSkAuth.from_provider(provider)
    assert provider.calls == 0
    signed = await asyncio.gather(*(auth.headers("GET", URL_ANY) for _ in range(50)))
    assert provider.calls == 1
    assert {access_of(h) for h in signed} == {"ak-1"}
    assert {h["X-Security-Token"] for h in signed} == {"st-1"}


@pytest.mark.virtual_clock
async def test_keys_are_renewed_five_minutes_before_they_expire() -> None:
    provider = KeyProvider(lifetime=HOUR)
    auth = AkSkAuth.from_provider(provider)
    await auth.headers("GET", URL_ANY)
    await asyncio.sleep(HOUR - 300 - 2)
    assert access_of(await auth.headers("GET", URL_ANY)) == "ak-1"
    await asyncio.sleep(4)
    assert access_of(await auth.headers("GET", URL_ANY)) == "ak-2"
    assert provider.calls == 2


@pytest.mark.virtual_clock
async def test_short_lived_keys_are_renewed_a_twelfth_of_their_life_early() -> None:
    provider = KeyProvider(lifetime=120.0)
    auth = AkSkAuth.from_provider(provider)
    await auth.headers("GET", URL_ANY)
    await asyncio.sleep(109)
    assert access_of(await auth.headers("GET", URL_ANY)) == "ak-1"
    await asyncio.sleep(2)
    assert access_of(await auth.headers("GET", URL_ANY)) == "ak-2"


@pytest.mark.virtual_clock
async def test_keys_without_expiry_are_kept_until_refused() -> None:
    provider = KeyProvider(lifetime=None)
    auth = AkSkAuth.from_provider(provider)
    await auth.headers("GET", URL_ANY)
    await asyncio.sleep(30 * 24 * HOUR)
    assert access_of(await auth.headers("GET", URL_ANY)) == "ak-1"
    assert provider.calls == 1


@pytest.mark.virtual_clock
async def test_a_failed_early_renewal_keeps_the_valid_keys_and_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = KeyProvider(lifetime=HOUR)
    auth = AkSkAuth.from_provider(provider)
    await auth.headers("GET", URL_ANY)
    await asyncio.sleep(HOUR - 200)
    provider.fail = ServerError("the metadata service answered HTTP 503")
    with caplog.at_level(logging.WARNING, logger="evs_job_watch"):
        results = await asyncio.gather(*(auth.headers("GET", URL_ANY) for _ in range(5)))
    assert {access_of(h) for h in results} == {"ak-1"}
    assert len(caplog.records) == 1  # said once, not once per waiting request
    assert "ServerError" in caplog.text and "valid for 200 s more" in caplog.text
    calls = provider.calls
    assert access_of(await auth.headers("GET", URL_ANY)) == "ak-1"
    assert provider.calls == calls  # not asked again at once: a quarter of what is left
    await asyncio.sleep(51)
    provider.fail = None
    assert access_of(await auth.headers("GET", URL_ANY)) == f"ak-{calls + 1}"


@pytest.mark.virtual_clock
async def test_once_the_keys_expired_a_failing_provider_fails_the_request() -> None:
    provider = KeyProvider(lifetime=HOUR)
    auth = AkSkAuth.from_provider(provider)
    await auth.headers("GET", URL_ANY)
    provider.fail = ServerError("the metadata service answered HTTP 503")
    await asyncio.sleep(HOUR + 1)
    with pytest.raises(ServerError):
        await auth.headers("GET", URL_ANY)


async def test_a_refusal_renews_the_keys_once_for_all_refused_requests() -> None:
    provider = KeyProvider()
    auth = AkSkAuth.from_provider(provider)
    used = await auth.headers("GET", URL_ANY)
    assert await asyncio.gather(*(auth.refresh(used) for _ in range(100))) == [True] * 100
    assert provider.calls == 2
    # A request signed with the old keys is refused late: they were renewed already.
    assert await auth.refresh(used) is True
    assert provider.calls == 2
    assert access_of(await auth.headers("GET", URL_ANY)) == "ak-2"


async def test_the_provider_errors_say_only_what_went_wrong() -> None:
    provider = KeyProvider()
    provider.fail = RuntimeError(f"agency token {CANARY}")
    with pytest.raises(AuthenticationError) as caught:
        await AkSkAuth.from_provider(provider).headers("GET", URL_ANY)
    assert str(caught.value).startswith("the credentials provider raised RuntimeError")
    assert caught.value.__context__ is None and CANARY not in repr(caught.value)

    async def junk() -> Credentials:
        return "ak:sk"  # type: ignore[return-value]

    with pytest.raises(AuthenticationError, match="did not return Credentials"):
        await AkSkAuth.from_provider(junk).headers("GET", URL_ANY)

    async def stale() -> Credentials:
        return Credentials("ak", "sk", expires_at=in_(-60))

    with pytest.raises(AuthenticationError, match="expired already"):
        await AkSkAuth.from_provider(stale).headers("GET", URL_ANY)
    with pytest.raises(TypeError):
        AkSkAuth.from_provider("ak")  # type: ignore[arg-type]


async def test_a_waiter_cancelled_does_not_cancel_the_fetch_the_others_wait_for() -> None:
    release = asyncio.Event()
    calls = 0

    async def slow() -> Credentials:
        nonlocal calls
        calls += 1
        await release.wait()
        return Credentials("ak", "sk")

    auth = AkSkAuth.from_provider(slow)
    first = asyncio.ensure_future(auth.headers("GET", URL_ANY))
    second = asyncio.ensure_future(auth.headers("GET", URL_ANY))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert access_of(await second) == "ak"
    assert first.cancelled() and calls == 1


async def test_the_last_waiter_cancelled_cancels_the_fetch() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hanging() -> Credentials:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    waiter = asyncio.ensure_future(AkSkAuth.from_provider(hanging).headers("GET", URL_ANY))
    await started.wait()
    waiter.cancel()
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_token_provider_shares_the_same_rules() -> None:
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise ServerError("IAM answered HTTP 503")

    auth = TokenAuth(provider)
    with pytest.raises(ServerError):  # ours pass through: transient, so retried by a watch
        await auth.headers("GET", URL_ANY)
    assert calls == 1


# -- over HTTP, against the simulator ------------------------------------------------------


async def test_temporary_keys_are_renewed_after_a_refusal_and_the_request_retried() -> None:
    async with EvsSimulator(speed=100) as sim:
        handed_out: list[str] = []

        async def from_the_simulator() -> Credentials:
            key = sim.identity.current_key()
            handed_out.append(key.access_key)
            expires = datetime.fromtimestamp(sim.wall_time(key.expires), timezone.utc)
            return Credentials(
                key.access_key, key.secret_key, key.security_token, expires_at=expires
            )

        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        auth = AkSkAuth.from_provider(from_the_simulator)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            assert (await client.get_job(job_id)).job_id == job_id
            sim.identity.revoke()  # the keys stop working before their time
            assert (await client.get_job(job_id)).job_id == job_id
        assert len(handed_out) == 2 and handed_out[0] != handed_out[1]
        assert [r.status for r in sim.requests if r.job_id == job_id] == [200, 401, 200]


@pytest.mark.virtual_clock
async def test_ready_headers_follow_the_renewal_schedule() -> None:
    # What a request sends without awaiting: nothing before the first fetch, the current
    # keys' signature while they are fresh, and nothing once they are due for renewal
    # (then the request awaits headers(), which renews them).
    provider = KeyProvider(lifetime=HOUR)
    auth = AkSkAuth.from_provider(provider)
    assert auth.current_headers("GET", URL_ANY) is None
    await auth.headers("GET", URL_ANY)
    assert access_of(auth.current_headers("GET", URL_ANY)) == "ak-1"
    await asyncio.sleep(HOUR - 300 - 2)
    assert access_of(auth.current_headers("GET", URL_ANY)) == "ak-1"
    await asyncio.sleep(4)
    assert auth.current_headers("GET", URL_ANY) is None
    assert provider.calls == 1
    assert access_of(await auth.headers("GET", URL_ANY)) == "ak-2"
    assert access_of(auth.current_headers("GET", URL_ANY)) == "ak-2"
    fixed = AkSkAuth("ak", "sk")
    assert access_of(fixed.current_headers("GET", URL_ANY)) == "ak"
