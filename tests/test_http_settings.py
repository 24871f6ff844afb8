"""One definition of the connection settings: ``HttpSettings``, taken as ``http=`` or as
its fields one by one by ``EvsJobClient``, ``EvsJobClient.from_environment`` and
``PasswordAuth``, checked in one place with the same errors for all three."""

from __future__ import annotations

import ssl
import typing
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from evs_job_watch import EvsJobClient, HttpOptions, HttpSettings, PasswordAuth
from evs_job_watch.simulator import EvsSimulator

from .netkit import TestCA, TunnelProxy
from .threaded import clear_credentials

PROJECT = "0123456789abcdef0123456789abcdef"
ENDPOINT = "https://evs.eu-de.otc.t-systems.com"
IAM = "https://iam.eu-de.otc.t-systems.com"


def client(**given: Any) -> HttpSettings:
    return EvsJobClient(ENDPOINT, PROJECT, **given).http


def password(**given: Any) -> HttpSettings:
    auth = PasswordAuth("u", "p", domain_name="d", project_id=PROJECT, iam_endpoint=IAM, **given)
    return auth.http


async def from_environment(**given: Any) -> HttpSettings:
    env = {"OS_AUTH_TOKEN": "tok", "OS_PROJECT_ID": PROJECT, "OS_REGION_NAME": "eu-de"}
    async with await EvsJobClient.from_environment(environ=env, **given) as made:
        return made.http


async def each(maker: Callable[..., Any], **given: Any) -> HttpSettings:
    made = maker(**given)
    return await made if isinstance(made, Awaitable) else made  # type: ignore[no-any-return]


MAKERS = pytest.mark.parametrize(
    "maker", [client, password, from_environment], ids=["client", "password", "environment"]
)


# -- the two forms ---------------------------------------------------------------------------


@MAKERS
async def test_the_keywords_and_http_give_the_same_settings(
    maker: Callable[..., Any], tmp_path: Path
) -> None:
    context = TestCA(tmp_path).client()
    fields: HttpOptions = {
        "ssl": context,
        "proxy": "http://user:pass@proxy.example:3128",
        "trust_env": False,
        "timeout": 7,
        "allow_insecure_http": True,
    }
    expected = HttpSettings(**fields)
    assert await each(maker, **fields) == expected
    assert await each(maker, http=expected) == expected
    assert await each(maker) == HttpSettings()  # the defaults, as before


@MAKERS
async def test_a_keyword_replaces_that_field_of_http(maker: Callable[..., Any]) -> None:
    shared = HttpSettings(proxy="http://proxy.example:3128", timeout=7.0)
    got = await each(maker, http=shared, timeout=3, trust_env=False)
    assert got == HttpSettings(proxy="http://proxy.example:3128", timeout=3.0, trust_env=False)
    assert shared.timeout == 7.0 and shared.trust_env  # frozen: the shared object is unchanged


def test_one_settings_object_serves_the_client_and_iam() -> None:
    shared = HttpSettings(timeout=5.0)
    auth = PasswordAuth(
        "u", "p", domain_name="d", project_id=PROJECT, iam_endpoint=IAM, http=shared
    )
    made = EvsJobClient(ENDPOINT, PROJECT, auth=auth, http=shared)
    assert made.http is shared and auth.http is shared


def test_a_timedelta_is_a_timeout_too() -> None:
    assert HttpSettings(timeout=timedelta(seconds=90)).timeout == 90.0
    assert client(timeout=timedelta(minutes=1)).timeout == 60.0


def test_plain_http_leaves_the_host_only_when_allowed() -> None:
    with pytest.raises(ValueError, match="must use https"):
        EvsJobClient("http://evs.internal.example", PROJECT)
    allowed = HttpSettings(allow_insecure_http=True)
    assert EvsJobClient("http://evs.internal.example", PROJECT, http=allowed)
    assert EvsJobClient("http://evs.internal.example", PROJECT, allow_insecure_http=True)
    with pytest.raises(ValueError, match="must use https"):  # the keyword wins over http=
        EvsJobClient(
            "http://evs.internal.example", PROJECT, http=allowed, allow_insecure_http=False
        )


def test_the_repr_shows_every_field_but_a_proxy_password() -> None:
    settings = HttpSettings(proxy="http://user:SECRET-pw@proxy.example:3128", timeout=7)
    text = repr(settings)
    assert "SECRET" not in text and "user" not in text
    assert text == (
        "HttpSettings(ssl=None, proxy='http://proxy.example:3128', trust_env=True, "
        "timeout=7, allow_insecure_http=False)"
    )
    assert "ssl=SSLContext" in repr(attrs.evolve(settings, ssl=ssl.create_default_context()))


# -- clear errors, the same from all three -----------------------------------------------------

BAD = [
    ({"proxi": "http://proxy.example:3128"}, TypeError, r"unexpected keyword argument 'proxi'"),
    ({"http": {"timeout": 5}}, TypeError, r"http must be an HttpSettings, got dict"),
    ({"ssl": False}, ValueError, r"ssl takes an ssl.SSLContext or the path of a CA bundle"),
    ({"ssl": "/no/such/ca.pem"}, ValueError, r"ssl: no CA bundle file at '/no/such/ca.pem'"),
    ({"proxy": "socks5://proxy.example:1080"}, ValueError, r"proxy must be an http://"),
    ({"timeout": "5"}, TypeError, r"timeout must be seconds \(a number\) or a timedelta"),
    ({"timeout": 0}, ValueError, r"timeout must be a positive number of seconds, got 0"),
    ({"trust_env": "no"}, TypeError, r"trust_env must be True or False, got 'no'"),
    ({"allow_insecure_http": 1}, TypeError, r"allow_insecure_http must be True or False, got 1"),
    ({"http": HttpSettings(), "timeout": -1}, ValueError, r"timeout must be a positive number"),
]


@MAKERS
@pytest.mark.parametrize(("given", "error", "message"), BAD)
async def test_a_bad_setting_is_refused_naming_it(
    maker: Callable[..., Any],
    given: dict[str, Any],
    error: type[Exception],
    message: str,
    home: None,
) -> None:
    with pytest.raises(error, match=message):
        await each(maker, **given)


@pytest.mark.parametrize(
    ("given", "error", "message"), [case for case in BAD if "http" not in case[0]]
)
def test_the_settings_object_refuses_the_same(
    given: dict[str, Any], error: type[Exception], message: str
) -> None:
    if "proxi" in given:
        with pytest.raises(TypeError, match="unexpected keyword argument 'proxi'"):
            HttpSettings(**given)
        return
    with pytest.raises(error, match=message):
        HttpSettings(**given)


@pytest.mark.parametrize(
    ("maker", "callee"),
    [
        (client, "EvsJobClient"),
        (password, "PasswordAuth"),
        (from_environment, "EvsJobClient.from_environment"),
    ],
)
async def test_the_unknown_keyword_error_names_the_callee_and_the_settings(
    maker: Callable[..., Any], callee: str, home: None
) -> None:
    with pytest.raises(TypeError) as refused:
        await each(maker, verify=False)
    assert str(refused.value) == (
        f"{callee}() got an unexpected keyword argument 'verify' (its connection settings "
        "are ssl, proxy, trust_env, timeout, allow_insecure_http, or http=HttpSettings(...))"
    )


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credential variables and no clouds.yaml (from_environment reads them)."""
    clear_credentials(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)


# -- one object, every request ------------------------------------------------------------------


@pytest.mark.parametrize("form", ["http", "keywords"])
async def test_iam_and_the_job_api_both_go_through_the_settings_given(
    form: str, tmp_path: Path, no_proxies: pytest.MonkeyPatch, home: None
) -> None:
    ca = TestCA(tmp_path)
    async with EvsSimulator(speed=100, ssl=ca.server) as sim, TunnelProxy() as proxy:
        identity = sim.identity
        env = {
            "OS_AUTH_URL": f"{sim.endpoint}/v3",
            "OS_USERNAME": identity.username,
            "OS_PASSWORD": identity.password,
            "OS_USER_DOMAIN_NAME": identity.domain_name,
            "OS_PROJECT_NAME": identity.project_name,
            "OS_EVS_ENDPOINT_OVERRIDE": sim.endpoint,
        }
        fields: HttpOptions = {"ssl": ca.bundle, "proxy": proxy.url}
        given: dict[str, Any] = {"http": HttpSettings(**fields)} if form == "http" else {**fields}
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        async with await EvsJobClient.from_environment(environ=env, **given) as made:
            assert made.project_id == sim.project_id  # asked of IAM, through the proxy
            assert (await made.get_job(job_id)).job_id == job_id
        where = sim.endpoint.removeprefix("https://")
        # IAM's token request (a session of its own), then the client's connection.
        assert proxy.tunnels == [where, where]
        assert [r.status for r in sim.requests if r.path == "/v3/auth/tokens"] == [201]


@pytest.mark.parametrize("function", [EvsJobClient.__init__, PasswordAuth.__init__])
def test_the_keywords_are_typed_at_run_time_too(function: Callable[..., Any]) -> None:
    # Tools that read annotations at run time (validators, CLIs) resolve them all.
    hints = typing.get_type_hints(function)
    assert hints["http"] == HttpSettings | None
    assert typing.get_args(hints["options"]) == (HttpOptions,)
    assert set(typing.get_type_hints(HttpOptions)) == {f.name for f in attrs.fields(HttpSettings)}
