"""Credentials: the AK/SK signature, fixed and provided tokens, and keeping secrets out."""

from __future__ import annotations

import asyncio
import re
import traceback
from collections.abc import Awaitable, Callable

import pytest
from yarl import URL

from evs_job_watch import AkSkAuth, AuthenticationError, TokenAuth
from evs_job_watch._credentials._auth import sign_request

from .tokens import CountingProvider

CANARY = "SECRET-CANARY-123"
URL_ANY = URL("https://evs.eu-de.otc.t-systems.com/v1/p1/jobs/j1")


# -- AK/SK --------------------------------------------------------------------------------


def test_sign_request_matches_the_published_vector() -> None:
    headers = sign_request(
        "GET",
        URL("https://service.endpoint.myhuaweicloud.com/resources?size=1"),
        "my ak",
        b"my sk",
        "20200608T023900Z",
    )
    assert headers["X-Sdk-Date"] == "20200608T023900Z"
    assert headers["Host"] == "service.endpoint.myhuaweicloud.com"
    assert headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=my ak, SignedHeaders=host;x-sdk-date, "
        "Signature=6d5bc610d3d4475346aae5cd7ed8d99585e60c0430a1d3d6e2f54e2bdd633701"
    )


def _signature(headers: dict[str, str]) -> str:
    match = re.search(r"Signature=([0-9a-f]{64})$", headers["Authorization"])
    assert match is not None
    return match.group(1)


def test_sign_request_puts_a_non_default_port_in_the_host() -> None:
    url = URL("https://evs.example.com:8443/v1/p1/jobs/j1")
    headers = sign_request("GET", url, "ak", b"sk", "20240314T092105Z")
    assert headers["Host"] == "evs.example.com:8443"
    without_port = sign_request(
        "GET", URL("https://evs.example.com/v1/p1/jobs/j1"), "ak", b"sk", "20240314T092105Z"
    )
    # The port is part of what is signed, not only of the header.
    assert _signature(headers) != _signature(without_port)


def test_sign_request_leaves_a_default_port_out_of_the_host() -> None:
    headers = sign_request(
        "GET", URL("https://evs.example.com:443/v1/p1/jobs/j1"), "ak", b"sk", "20240314T092105Z"
    )
    assert headers["Host"] == "evs.example.com"


def test_sign_request_depends_on_path_date_and_secret() -> None:
    base = _signature(sign_request("GET", URL_ANY, "ak", b"sk", "20240314T092105Z"))
    other_path = URL("https://evs.eu-de.otc.t-systems.com/v1/p1/jobs/j2")
    assert _signature(sign_request("GET", other_path, "ak", b"sk", "20240314T092105Z")) != base
    assert _signature(sign_request("GET", URL_ANY, "ak", b"sk", "20240314T092106Z")) != base
    assert _signature(sign_request("GET", URL_ANY, "ak", b"sk2", "20240314T092105Z")) != base


async def test_ak_sk_auth_signs_with_a_fresh_sdk_date() -> None:
    auth = AkSkAuth("my ak", "my sk")
    headers = await auth.headers("GET", URL_ANY)
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Sdk-Date"])
    assert headers == sign_request("GET", URL_ANY, "my ak", b"my sk", headers["X-Sdk-Date"])


async def test_ak_sk_auth_cannot_be_refreshed() -> None:
    auth = AkSkAuth("ak", "sk")
    used = await auth.headers("GET", URL_ANY)
    assert await auth.refresh(used) is False


@pytest.mark.parametrize(
    ("access_key", "secret_key"),
    [("", "sk"), ("ak", ""), ("", ""), ("ak\n", "sk"), ("ak", "s\x00k")],
)
def test_ak_sk_auth_rejects_empty_or_unprintable_keys(access_key: str, secret_key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        AkSkAuth(access_key, secret_key)


def test_ak_sk_auth_error_for_a_bad_key_does_not_quote_the_secret() -> None:
    with pytest.raises(ValueError, match="secret_key") as caught:
        AkSkAuth("ak", CANARY + "\n")
    assert CANARY not in str(caught.value)


# -- fixed token --------------------------------------------------------------------------


async def test_fixed_token_is_sent_as_x_auth_token() -> None:
    auth = TokenAuth("tok-fixed")
    assert dict(await auth.headers("GET", URL_ANY)) == {"X-Auth-Token": "tok-fixed"}


async def test_fixed_token_cannot_be_refreshed() -> None:
    auth = TokenAuth("tok-fixed")
    used = await auth.headers("GET", URL_ANY)
    assert await auth.refresh(used) is False
    assert dict(await auth.headers("GET", URL_ANY)) == {"X-Auth-Token": "tok-fixed"}


@pytest.mark.parametrize("token", ["", " tok", "tok\n", "a b\n", "t\x00k"])
def test_fixed_token_that_is_not_a_clean_string_is_refused(token: str) -> None:
    with pytest.raises(AuthenticationError):
        TokenAuth(token)


def test_token_auth_rejects_something_that_is_neither_token_nor_provider() -> None:
    with pytest.raises(TypeError):
        TokenAuth(5)  # type: ignore[arg-type]


# -- provider -----------------------------------------------------------------------------


async def test_provider_is_called_once_for_the_first_request() -> None:
    provider = CountingProvider()
    auth = TokenAuth(provider)
    assert provider.calls == 0
    first = await auth.headers("GET", URL_ANY)
    second = await auth.headers("GET", URL_ANY)
    assert dict(first) == dict(second) == {"X-Auth-Token": "tok-1"}
    assert provider.calls == 1


async def test_concurrent_first_requests_share_one_provider_call() -> None:
    provider = CountingProvider()
    auth = TokenAuth(provider)
    results = await asyncio.gather(*(auth.headers("GET", URL_ANY) for _ in range(50)))
    assert provider.calls == 1
    assert {r["X-Auth-Token"] for r in results} == {"tok-1"}


async def test_a_hundred_concurrent_refreshes_call_the_provider_once() -> None:
    provider = CountingProvider()
    auth = TokenAuth(provider)
    used = await auth.headers("GET", URL_ANY)
    results = await asyncio.gather(*(auth.refresh(used) for _ in range(100)))
    assert results == [True] * 100
    assert provider.calls == 2
    assert dict(await auth.headers("GET", URL_ANY)) == {"X-Auth-Token": "tok-2"}


async def test_refresh_with_stale_headers_after_another_refresh_does_not_call_again() -> None:
    provider = CountingProvider()
    auth = TokenAuth(provider)
    stale = await auth.headers("GET", URL_ANY)
    assert await auth.refresh(stale) is True
    assert provider.calls == 2
    # A request that used tok-1 is refused late: the token it used was renewed already.
    assert await auth.refresh(stale) is True
    assert provider.calls == 2
    assert dict(await auth.headers("GET", URL_ANY)) == {"X-Auth-Token": "tok-2"}


async def test_refresh_with_current_headers_calls_the_provider_again() -> None:
    provider = CountingProvider()
    auth = TokenAuth(provider)
    await auth.refresh(await auth.headers("GET", URL_ANY))
    await auth.refresh(await auth.headers("GET", URL_ANY))
    assert provider.calls == 3
    assert dict(await auth.headers("GET", URL_ANY)) == {"X-Auth-Token": "tok-3"}


def _raising_provider(exc: Exception) -> Callable[[], Awaitable[str]]:
    async def provider() -> str:
        raise exc

    return provider


def _text_of(error: BaseException) -> str:
    return "".join((str(error), repr(error), *traceback.format_exception(type(error), error, None)))


async def test_provider_raising_gives_authentication_error_without_its_message() -> None:
    auth = TokenAuth(_raising_provider(RuntimeError(f"IAM said no to password {CANARY}")))
    with pytest.raises(AuthenticationError) as caught:
        await auth.headers("GET", URL_ANY)
    assert CANARY not in _text_of(caught.value)
    assert caught.value.__cause__ is None


async def test_refresh_whose_provider_raises_gives_authentication_error() -> None:
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ConnectionError(f"token {CANARY} rejected")
        return "tok-1"

    auth = TokenAuth(provider)
    used = await auth.headers("GET", URL_ANY)
    with pytest.raises(AuthenticationError) as caught:
        await auth.refresh(used)
    assert CANARY not in _text_of(caught.value)


async def test_provider_is_asked_again_after_it_failed() -> None:
    answers: list[Exception | str] = [RuntimeError("IAM down"), "tok-ok"]

    async def provider() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    auth = TokenAuth(provider)
    with pytest.raises(AuthenticationError):
        await auth.headers("GET", URL_ANY)
    assert dict(await auth.headers("GET", URL_ANY)) == {"X-Auth-Token": "tok-ok"}


@pytest.mark.parametrize(
    "junk",
    [None, "", "a b\n", 5, " padded ", f"{CANARY}\r\n", "x" * (64 * 1024 + 1)],
    ids=["None", "empty", "newline", "int", "spaces", "canary-crlf", "huge"],
)
async def test_provider_returning_junk_gives_authentication_error(junk: object) -> None:
    async def provider() -> object:
        return junk

    auth = TokenAuth(provider)  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError) as caught:
        await auth.headers("GET", URL_ANY)
    assert CANARY not in _text_of(caught.value)


# -- no secrets in repr/str ---------------------------------------------------------------


async def test_token_auth_repr_and_str_hide_the_token() -> None:
    fixed = TokenAuth(CANARY)

    async def provider() -> str:
        return CANARY

    provided = TokenAuth(provider)
    await provided.headers("GET", URL_ANY)
    for auth in (fixed, provided):
        assert CANARY not in repr(auth)
        assert CANARY not in str(auth)


def test_ak_sk_auth_repr_and_str_hide_both_keys() -> None:
    auth = AkSkAuth("AK-" + CANARY, "SK-" + CANARY)
    for text in (repr(auth), str(auth)):
        assert CANARY not in text
        assert "AK-" not in text
        assert "SK-" not in text
