"""The canary search of ``test_secrets.py`` (its machinery in ``canary.py``) over the newer
credentials: an IAM password and the tokens IAM issues, temporary keys with their security
token (given, from a provider, from the metadata service), a proxy's password, and
clouds.yaml."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    Credentials,
    EvsJobClient,
    EvsJobWatchError,
    JobWatcher,
    MetadataCredentials,
    PasswordAuth,
)
from evs_job_watch.simulator import EvsSimulator
from evs_job_watch.simulator._identity import TemporaryKey

from .canary import (
    CANARY,
    DEADLINE,
    FAST,
    Exposure,
    every_error_answer,
    every_watch_ending,
    run_cli,
    user_on_error,
)
from .netkit import TestCA, TunnelProxy, closed_port
from .threaded import ThreadedSimulator


def _password_auth(sim: EvsSimulator, password: str, **network: object) -> PasswordAuth:
    identity = sim.identity
    return PasswordAuth(
        identity.username,
        password,
        domain_name=identity.domain_name,
        project_name=identity.project_name,
        iam_endpoint=sim.endpoint,
        **network,  # type: ignore[arg-type]
    )


def _drawn_secrets(sim: EvsSimulator) -> list[str]:
    """What the simulator handed out: IAM tokens, temporary secret keys and tokens."""
    identity = sim.identity
    keys = [k for key in identity.issued_keys for k in (key.secret_key, key.security_token)]
    return [*identity.issued_tokens, *keys]


async def test_a_password_and_the_tokens_it_gets_never_show(
    exposure: Exposure, tmp_path: Path
) -> None:
    asyncio.get_running_loop().set_debug(True)
    async with EvsSimulator(password=CANARY, speed=100) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        auth = _password_auth(sim, CANARY)
        async with EvsJobClient(sim.endpoint, await auth.resolve_project_id(), auth=auth) as client:
            exposure.show("password auth", auth, client)
            exposure.show("job", await client.get_job(job_id))
            await every_error_answer(exposure, sim, auth, job_id)
            await every_watch_ending(exposure, sim, client, tmp_path / "state.json")
            sim.identity.revoke()  # a refusal: the token is fetched anew
            exposure.show("job after a refusal", await client.get_job(job_id))
        wrong = _password_auth(sim, CANARY + "-wrong")
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=wrong) as client:
            with pytest.raises(AuthenticationError) as refused:
                await client.get_job(job_id)
            exposure.error("refused password", refused.value)
            async with JobWatcher(client, policy=FAST, on_error=user_on_error(exposure)) as w:
                with pytest.raises(AuthenticationError):
                    await asyncio.wait_for(w.wait(job_id), DEADLINE)
            exposure.show("refused password auth", wrong, client, w)
        exposure.also_secret(*_drawn_secrets(sim))
        with pytest.raises(ValueError) as unprintable:
            _password_auth(sim, CANARY + "\n")
        exposure.error("unprintable password", unprintable.value)
    exposure.assert_clean()


async def test_temporary_keys_and_their_security_token_never_show(
    exposure: Exposure, tmp_path: Path
) -> None:
    asyncio.get_running_loop().set_debug(True)
    async with EvsSimulator(speed=100) as sim:
        expires = asyncio.get_running_loop().time() + 3600
        sim.identity.issued_keys.append(TemporaryKey("TMPAK", CANARY, CANARY + "-st", expires))
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        given = AkSkAuth("TMPAK", CANARY, security_token=CANARY + "-st")
        calls: list[int] = []

        async def provided() -> Credentials:
            calls.append(1)
            at = datetime.fromtimestamp(sim.wall_time(expires), timezone.utc)
            return Credentials("TMPAK", CANARY, security_token=CANARY + "-st", expires_at=at)

        from_metadata = AkSkAuth.from_provider(MetadataCredentials(sim.endpoint))
        for name, auth in [
            ("given", given),
            ("provided", AkSkAuth.from_provider(provided)),
            ("metadata", from_metadata),
        ]:
            async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
                exposure.show(f"{name} auth", auth, client)
                exposure.show(f"{name} job", await client.get_job(job_id))
                await every_error_answer(exposure, sim, auth, job_id)
                await every_watch_ending(exposure, sim, client, tmp_path / f"{name}.json")
        exposure.show("keys", await MetadataCredentials(sim.endpoint)())

        async def stale() -> Credentials:
            return Credentials("TMPAK", CANARY + "-old", security_token=CANARY + "-old-st")

        refused = AkSkAuth.from_provider(stale)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=refused) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.get_job(job_id)
            exposure.error("refused temporary keys", caught.value)
        exposure.show("refused keys auth", refused)
        exposure.also_secret(*_drawn_secrets(sim))
    assert calls
    exposure.assert_clean()


async def test_a_proxy_password_never_shows(exposure: Exposure, tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    async with EvsSimulator(speed=100, ssl=ca.server, token=CANARY + "-token") as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        auth = AkSkAuth(sim.access_key, sim.secret_key)
        async with TunnelProxy() as proxy:
            url = proxy.url.replace("http://", f"http://user:{CANARY}@")
            async with EvsJobClient(
                sim.endpoint, sim.project_id, auth=auth, ssl=ca.bundle, proxy=url
            ) as client:
                exposure.show("client through a proxy", client)
                exposure.show("job through a proxy", await client.get_job(job_id))
        for name, proxy_url in [
            ("closed proxy", f"http://user:{CANARY}@127.0.0.1:{closed_port()}"),
            ("refusing proxy", None),
        ]:
            async with TunnelProxy(refuse=407) as refusing:
                where = proxy_url or refusing.url.replace("http://", f"http://user:{CANARY}@")
                async with EvsJobClient(
                    sim.endpoint, sim.project_id, auth=auth, ssl=ca.bundle, proxy=where
                ) as client:
                    with pytest.raises(EvsJobWatchError) as caught:
                        await client.get_job(job_id)
                    exposure.error(name, caught.value)
                    exposure.show(name, client)
    exposure.assert_clean()


def test_the_command_line_never_shows_a_password_from_clouds_yaml(
    exposure: Exposure, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.chdir(tmp_path)
    clean_env.setenv("HOME", str(tmp_path))
    with ThreadedSimulator(speed=100, password=CANARY) as threaded:
        sim = threaded.sim
        identity = sim.identity
        done = threaded.call(sim.add_job, timeline=[(0, "RUNNING"), (1, "SUCCESS")])
        auth = {
            "auth_url": sim.endpoint,
            "username": identity.username,
            "project_name": identity.project_name,
            "user_domain_name": identity.domain_name,
        }
        entry = {"auth": auth, "evs_endpoint_override": sim.endpoint}
        Path("clouds.yaml").write_text(yaml.safe_dump({"clouds": {"right": entry, "wrong": entry}}))
        secure = {
            "right": {"auth": {"password": CANARY}},
            "wrong": {"auth": {"password": CANARY + "x"}},
        }
        Path("secure.yaml").write_text(yaml.safe_dump({"clouds": secure}))
        argv = ["watch", "--interval", "0.05", "--max-interval", "0.1", done]
        codes = {
            name: run_cli(exposure, name, "watch", "--os-cloud", name, *argv[1:])
            for name in ("right", "wrong")
        }
        clean_env.setenv("OS_PASSWORD", CANARY + "-env")
        codes["env"] = run_cli(exposure, "env", "watch", "--os-cloud", "right", *argv[1:])
        exposure.also_secret(*_drawn_secrets(sim))
    exposure.assert_clean()
    assert codes == {"right": 0, "wrong": 3, "env": 3}
