"""TLS, proxies and setup errors over loopback: a CA made for the test, a real CONNECT
proxy, a closed port, and a connection that never worked told from one that broke."""

from __future__ import annotations

import asyncio
import io
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from evs_job_watch import (
    AkSkAuth,
    ConnectionSetupError,
    EvsJobClient,
    JobWatcher,
    PollPolicy,
    ServerError,
    TokenAuth,
)
from evs_job_watch.cli import main
from evs_job_watch.simulator import EvsSimulator

from .netkit import TestCA, TunnelProxy, closed_port
from .threaded import clear_credentials

CANARY = "SECRET-CANARY-44f0"
OTC = "evs.eu-de.otc.t-systems.com"


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


async def one_job(sim: EvsSimulator, client: EvsJobClient) -> None:
    job_id = sim.add_job(timeline=[(0, "RUNNING")])
    assert (await client.get_job(job_id)).job_id == job_id


def client_for(sim: EvsSimulator, endpoint: str | None = None, **options: Any) -> EvsJobClient:
    return EvsJobClient(
        endpoint or sim.endpoint, sim.project_id, auth=TokenAuth(sim.token), **options
    )


# -- TLS ------------------------------------------------------------------------------------


async def test_a_server_of_an_unknown_ca_is_refused_at_once_naming_it(
    ca: TestCA, no_proxies: pytest.MonkeyPatch
) -> None:
    async with EvsSimulator(speed=100, ssl=ca.server) as sim, client_for(sim) as client:
        port = int(sim.endpoint.rsplit(":", 1)[1])
        with pytest.raises(ConnectionSetupError) as caught:
            await client.get_job("j1")
    error = caught.value
    assert (error.scheme, error.host, error.port, error.job_id) == (
        "https",
        "127.0.0.1",
        port,
        "j1",
    )
    assert error.reason.startswith("certificate verify failed (")
    assert str(error).startswith(f"cannot connect to https://127.0.0.1:{port}: certificate")
    assert "\n" not in str(error)
    assert not isinstance(error, ServerError)  # final, not retried as API flakiness


async def test_a_ca_bundle_or_context_given_is_trusted(
    ca: TestCA, no_proxies: pytest.MonkeyPatch
) -> None:
    async with EvsSimulator(speed=100, ssl=ca.server) as sim:
        for trusted in (str(ca.bundle), ca.bundle, ca.client()):
            async with client_for(sim, ssl=trusted) as client:
                await one_job(sim, client)


async def test_a_ca_bundle_given_adds_trust_to_the_systems_own(
    tmp_path: Path, no_proxies: pytest.MonkeyPatch
) -> None:
    # The server's CA is the "system's" (SSL_CERT_FILE); the bundle given is another one.
    (tmp_path / "system").mkdir()
    (tmp_path / "other").mkdir()
    system = TestCA(tmp_path / "system")
    other = TestCA(tmp_path / "other")
    no_proxies.setenv("SSL_CERT_FILE", str(system.bundle))
    no_proxies.delenv("SSL_CERT_DIR", raising=False)
    async with EvsSimulator(speed=100, ssl=system.server) as sim:
        # (Not ssl=None here: aiohttp made its default context at import, before setenv.)
        for trusted in (other.bundle, str(system.bundle)):
            async with client_for(sim, ssl=trusted) as client:
                await one_job(sim, client)
    # And the bundle's own CA is trusted, with the system's.
    async with EvsSimulator(speed=100, ssl=other.server) as sim:
        async with client_for(sim, ssl=other.bundle) as client:
            await one_job(sim, client)
        with pytest.raises(ConnectionSetupError, match="certificate verify failed"):
            async with client_for(sim) as client:
                await one_job(sim, client)


async def test_a_certificate_for_another_name_is_refused(
    tmp_path: Path, no_proxies: pytest.MonkeyPatch
) -> None:
    ca = TestCA(tmp_path)
    other = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.ca.issue_cert("evs.example").configure_cert(other)
    async with EvsSimulator(speed=100, ssl=other) as sim, client_for(sim, ssl=ca.bundle) as client:
        with pytest.raises(ConnectionSetupError, match=r"certificate verify failed .*mismatch"):
            await client.get_job("j1")


async def test_tls_to_a_plain_http_port_is_a_setup_error(no_proxies: pytest.MonkeyPatch) -> None:
    async with EvsSimulator(speed=100) as sim:
        https = sim.endpoint.replace("http://", "https://")
        async with client_for(sim, https) as client:
            with pytest.raises(ConnectionSetupError, match="TLS handshake failed"):
                await client.get_job("j1")


@pytest.mark.parametrize(
    "ssl_option",
    ["no such file", False, True, 0],
    ids=["missing file", "False", "True", "zero"],
)
def test_no_switch_turns_verification_off(ssl_option: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ssl"):
        EvsJobClient(f"https://{OTC}", "p1", ssl=ssl_option)


@pytest.mark.parametrize("change", ["CERT_NONE", "no hostname check"])
def test_a_context_that_does_not_verify_is_refused(change: str) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    if change == "CERT_NONE":
        context.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError, match="must verify"):
        EvsJobClient(f"https://{OTC}", "p1", ssl=context)


def test_a_file_that_is_not_a_ca_bundle_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="not a PEM CA bundle"):
        EvsJobClient(f"https://{OTC}", "p1", ssl=junk)


# -- unknown host, closed port -----------------------------------------------------------


class NoSuchHost(AbstractResolver):
    """The resolver's answer for a name that does not exist, as getaddrinfo gives it.

    A stand-in for DNS only: the test machine must send no query off the host.
    """

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_an_unknown_host_is_a_setup_error_naming_it() -> None:
    connector = aiohttp.TCPConnector(resolver=NoSuchHost())
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        EvsJobClient("https://evs.nowhere.example", "p1", session=session) as client,
    ):
        with pytest.raises(ConnectionSetupError) as caught:
            await client.get_job("j1")
    assert str(caught.value) == (
        "cannot connect to https://evs.nowhere.example:443: "
        "unknown host (Name or service not known) (job j1)"
    )


async def test_a_closed_port_is_a_setup_error_naming_it() -> None:
    port = closed_port()
    async with EvsJobClient(f"http://127.0.0.1:{port}", "p1") as client:
        with pytest.raises(ConnectionSetupError) as caught:
            await client.get_job("j1")
    assert str(caught.value) == (
        f"cannot connect to http://127.0.0.1:{port}: connection refused (job j1)"
    )


async def test_the_same_failure_after_the_endpoint_answered_is_a_blip() -> None:
    async with EvsSimulator(speed=100) as sim:
        client = client_for(sim)
        endpoint = sim.endpoint
        await one_job(sim, client)
    async with client:  # the simulator is gone: the port is closed now
        with pytest.raises(ServerError) as caught:
            await client.get_job("j1")
    assert caught.value.message == (
        f"request to {endpoint} failed: connection refused (ClientConnectorError)"
    )


async def test_a_watch_ends_at_once_on_a_setup_error() -> None:
    port = closed_port()
    policy = PollPolicy(interval=0.01, max_interval=0.02, max_consecutive_errors=10)
    errors: list[tuple[str, BaseException]] = []
    async with (
        EvsJobClient(f"http://127.0.0.1:{port}", "p1") as client,
        JobWatcher(client, policy=policy, on_error=lambda j, e: errors.append((j, e))) as watcher,
    ):
        results = await asyncio.wait_for(
            watcher.wait_all(["j1", "j2", "j3"], return_exceptions=True), 30
        )
        stats = watcher.stats
    assert all(isinstance(result, ConnectionSetupError) for result in results)
    assert (stats.polls, stats.errors) == (3, 0)  # one request each, none retried
    assert sorted(job for job, _ in errors) == ["j1", "j2", "j3"]


def test_the_command_line_prints_a_setup_error_on_one_line_and_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_credentials(monkeypatch)
    monkeypatch.setenv("OS_AUTH_TOKEN", "tok")
    port = closed_port()
    out = io.StringIO()
    argv = ["watch", "--endpoint", f"http://127.0.0.1:{port}", "--project-id", "p1", "j1"]
    assert main(argv, out=out) == 3
    line, *report = out.getvalue().splitlines()
    assert line.endswith(
        f"j1: watch ended: ConnectionSetupError: cannot connect to http://127.0.0.1:{port}: "
        "connection refused (job j1)"
    )
    assert report[0] == "1 job: 0 succeeded, 0 failed, 1 watch error"
    assert "Traceback" not in capsys.readouterr().err


def test_the_command_line_exits_3_when_iam_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_credentials(monkeypatch)
    port = closed_port()
    for name, value in {
        "OS_USERNAME": "u",
        "OS_PASSWORD": CANARY,
        "OS_USER_DOMAIN_NAME": "d",
        "OS_PROJECT_NAME": "eu-de",
        "OS_AUTH_URL": f"http://127.0.0.1:{port}/v3",
    }.items():
        monkeypatch.setenv(name, value)
    argv = ["watch", "--endpoint", "https://127.0.0.1:9", "j1"]
    assert main(argv, out=io.StringIO()) == 3
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        f"evs-job-watch: error: cannot connect to http://127.0.0.1:{port}: connection refused"
    )


# -- proxies ------------------------------------------------------------------------------


async def test_a_proxy_given_carries_every_request(
    ca: TestCA, no_proxies: pytest.MonkeyPatch
) -> None:
    async with (
        EvsSimulator(speed=100, ssl=ca.server) as sim,
        TunnelProxy() as proxy,
        client_for(sim, ssl=ca.bundle, proxy=proxy.url) as client,
    ):
        await one_job(sim, client)
        await one_job(sim, client)
        assert proxy.tunnels == [sim.endpoint.removeprefix("https://")]  # kept alive


async def test_https_proxy_from_the_environment_is_used(
    ca: TestCA, no_proxies: pytest.MonkeyPatch
) -> None:
    async with EvsSimulator(speed=100, ssl=ca.server) as sim:
        port = int(sim.endpoint.rsplit(":", 1)[1])
        # The proxy, not this process, resolves the name: here it leads to the simulator.
        async with TunnelProxy(to=("127.0.0.1", port)) as proxy:
            no_proxies.setenv("HTTPS_PROXY", proxy.url)
            async with client_for(sim, f"https://{OTC}", ssl=ca.bundle) as client:
                await one_job(sim, client)
    assert proxy.tunnels == [f"{OTC}:443"]


async def test_no_proxy_and_trust_env_false_go_direct(
    ca: TestCA, no_proxies: pytest.MonkeyPatch
) -> None:
    async with EvsSimulator(speed=100, ssl=ca.server) as sim, TunnelProxy() as proxy:
        no_proxies.setenv("HTTPS_PROXY", proxy.url)
        localhost = sim.endpoint.replace("127.0.0.1", "localhost")
        async with client_for(sim, ssl=ca.bundle, trust_env=False) as client:
            await one_job(sim, client)
        no_proxies.setenv("NO_PROXY", "localhost")
        async with client_for(sim, localhost, ssl=ca.bundle) as client:
            await one_job(sim, client)
        assert proxy.tunnels == []
        no_proxies.delenv("NO_PROXY")
        async with client_for(sim, localhost, ssl=ca.bundle) as client:
            await one_job(sim, client)
        assert proxy.tunnels == [localhost.removeprefix("https://")]


async def test_a_proxy_that_cannot_be_reached_is_a_setup_error_naming_it() -> None:
    port = closed_port()
    proxy = f"http://user:{CANARY}@127.0.0.1:{port}"
    async with EvsJobClient(f"https://{OTC}", "p1", proxy=proxy) as client:
        assert CANARY not in repr(client)
        with pytest.raises(ConnectionSetupError) as caught:
            await client.get_job("j1")
    error = caught.value
    assert error.proxy == f"http://127.0.0.1:{port}"
    assert str(error) == (
        f"cannot connect to https://{OTC}:443 through the proxy http://127.0.0.1:{port}: "
        f"the proxy 127.0.0.1:{port} cannot be reached (connection refused) (job j1)"
    )
    assert CANARY not in f"{error!r} {error.args}"


async def test_a_proxy_refusing_the_tunnel_is_a_setup_error(
    no_proxies: pytest.MonkeyPatch,
) -> None:
    async with (
        TunnelProxy(refuse=407) as proxy,
        EvsJobClient(f"https://{OTC}", "p1", proxy=proxy.url) as client,
    ):
        with pytest.raises(ConnectionSetupError, match="refused the tunnel with HTTP 407"):
            await client.get_job("j1")


@pytest.mark.parametrize("proxy", ["socks5://127.0.0.1:1080", f"{CANARY}", "http://"])
def test_a_proxy_that_is_not_an_http_url_is_refused_without_quoting_it(proxy: str) -> None:
    with pytest.raises(ValueError, match="proxy") as caught:
        EvsJobClient(f"https://{OTC}", "p1", proxy=proxy)
    assert CANARY not in str(caught.value)


async def test_netrc_is_never_read(tmp_path: Path, no_proxies: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login user password {CANARY}\n")
    netrc.chmod(0o600)
    no_proxies.setenv("NETRC", str(netrc))
    async with EvsSimulator(speed=100) as sim:
        auth = AkSkAuth(sim.access_key, sim.secret_key)
        # Had aiohttp read it (its trust_env does), the basic auth would clash with the
        # signature's Authorization header and every request would fail.
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            await one_job(sim, client)
