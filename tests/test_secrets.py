"""No credential reaches a repr, a str, a log line, an exception, its chain, or the output.

A canary stands in for the token, the secret key and a token provider's error message
(and, in ``test_secrets_credentials.py``, for passwords, security tokens and a proxy's
password; the IAM tokens and temporary keys the simulator draws are searched for too).
Each test does every canary-bearing thing itself, over loopback HTTP against the
simulator, with every logger captured at DEBUG, then searches all it captured: the
repr and str of each object it met, each exception with its whole ``__cause__`` and
``__context__`` chain (suppressed or not), each log record, and stdout and stderr. Pytest
cannot search its own output from inside a test; keeping the canary inside these tests
and searching what they captured is the nearest proof, and a failure names where the
canary was found without printing it. The search itself, the canary and the tours every
credential takes are in ``canary.py``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    EvsJobClient,
    EvsJobWatchError,
    JobWatcher,
    TokenAuth,
)
from evs_job_watch.redis import RedisServer, RedisStore
from evs_job_watch.simulator import EvsSimulator

from .canary import (
    CANARY,
    DEADLINE,
    ERROR_ANSWERS,
    FAST,
    Exposure,
    every_error_answer,
    every_watch_ending,
    run_cli,
    user_on_error,
)
from .threaded import ThreadedSimulator


def test_the_search_finds_the_canary_wherever_it_hides(
    exposure: Exposure, capsys: pytest.CaptureFixture[str]
) -> None:
    # The proof is only as good as the search: plant the canary in each hiding place.
    logging.getLogger("evs_job_watch").debug("token %s", CANARY)
    try:
        try:
            raise RuntimeError(CANARY)
        except RuntimeError:
            raise ValueError("clean") from None  # suppressed, still in __context__
    except ValueError as exc:
        exposure.error("planted", exc)
        logging.getLogger("aiohttp.client").warning("clean", exc_info=exc)
    print(f"out {CANARY}")
    exposure.show("planted object", {"token": CANARY})
    exposure.text("caplog.text", "")  # what assert_clean adds, without asserting
    found = " | ".join(exposure.leaks())
    for place in (
        "log evs_job_watch DEBUG",
        "planted / RuntimeError",
        "exc_info",
        "planted object",
    ):
        assert place in found
    assert CANARY not in found  # the report itself is redacted
    assert CANARY in capsys.readouterr().out


# -- the library --------------------------------------------------------------------------


async def test_a_token_accepted_or_refused_never_shows(exposure: Exposure, tmp_path: Path) -> None:
    asyncio.get_running_loop().set_debug(True)  # asyncio's own diagnostics are output too
    async with EvsSimulator(token=CANARY, speed=100) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        auth = TokenAuth(CANARY)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            exposure.show("token auth", auth)
            exposure.show("client", client)
            exposure.show("job", await client.get_job(job_id))
            await every_error_answer(exposure, sim, auth, job_id)
            await every_watch_ending(exposure, sim, client, tmp_path / "state.json")
        revoked = TokenAuth(CANARY + "-revoked")
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=revoked) as client:
            with pytest.raises(AuthenticationError) as refused:
                await client.get_job(job_id)
            exposure.error("refused token", refused.value)
            async with JobWatcher(client, policy=FAST, on_error=user_on_error(exposure)) as w:
                with pytest.raises(AuthenticationError):
                    await asyncio.wait_for(w.wait(job_id), DEADLINE)
            exposure.show("refused token auth", revoked, client, w)
    exposure.assert_clean()


async def test_a_token_provider_its_tokens_and_its_failures_never_show(
    exposure: Exposure,
) -> None:
    asyncio.get_running_loop().set_debug(True)
    tokens = [CANARY + "-stale", CANARY]  # refused, then accepted after the refresh

    async def renewing() -> str:
        return tokens.pop(0) if len(tokens) > 1 else tokens[0]

    async def failing() -> str:
        raise RuntimeError(f"IAM refused the password {CANARY}")

    async def failing_on_refresh() -> str:
        if not calls:
            calls.append(1)
            return CANARY + "-stale"
        raise ConnectionError(f"IAM unreachable, could not renew {CANARY}")

    async def junk() -> str:
        return f"{CANARY}\r\n"

    calls: list[int] = []
    async with EvsSimulator(token=CANARY, speed=100) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        for name, provider in [
            ("renewing", renewing),
            ("failing", failing),
            ("failing on refresh", failing_on_refresh),
            ("junk", junk),
        ]:
            auth = TokenAuth(provider)
            async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
                try:
                    exposure.show(f"{name} job", await client.get_job(job_id))
                    await every_error_answer(exposure, sim, auth, job_id)
                except EvsJobWatchError as exc:
                    exposure.error(f"provider {name}", exc)
                async with JobWatcher(
                    client, policy=FAST, on_error=user_on_error(exposure)
                ) as watcher:
                    handle = watcher.watch(job_id, timeout=0.2)
                    with pytest.raises(EvsJobWatchError):
                        await asyncio.wait_for(handle, DEADLINE)
                exposure.show(f"provider {name}", auth, client, watcher, handle)
    assert exposure.errors > len(ERROR_ANSWERS)  # the renewing provider went everywhere
    exposure.assert_clean()


async def test_a_secret_key_accepted_or_refused_never_shows(
    exposure: Exposure, tmp_path: Path
) -> None:
    asyncio.get_running_loop().set_debug(True)
    async with EvsSimulator(secret_key=CANARY, speed=100) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        auth = AkSkAuth(sim.access_key, CANARY)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            exposure.show("ak/sk auth", auth, client)
            exposure.show("job", await client.get_job(job_id))
            await every_error_answer(exposure, sim, auth, job_id)
            await every_watch_ending(exposure, sim, client, tmp_path / "state.json")
        old = AkSkAuth(sim.access_key, CANARY + "-old")
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=old) as client:
            with pytest.raises(AuthenticationError) as refused:
                await client.get_job(job_id)
            exposure.error("refused key", refused.value)
            exposure.show("refused ak/sk auth", old, client)
    with pytest.raises(ValueError) as unprintable:
        AkSkAuth("my-ak", CANARY + "\n")
    exposure.error("unprintable secret key", unprintable.value)
    exposure.assert_clean()


# -- the command line ---------------------------------------------------------------------


def test_the_command_line_never_shows_a_credential(
    exposure: Exposure, clean_env: pytest.MonkeyPatch
) -> None:
    with ThreadedSimulator(speed=100, token=CANARY, secret_key=CANARY) as threaded:
        sim = threaded.sim
        done = threaded.call(sim.add_job, timeline=[(0, "RUNNING"), (1, "SUCCESS")])
        argv = ["watch", "--endpoint", sim.endpoint, "--project-id", sim.project_id]
        argv += ["--interval", "0.05", "--max-interval", "0.1", done]
        codes = {}
        for label, env in [
            ("token", {"OS_AUTH_TOKEN": CANARY}),
            ("revoked token", {"OS_AUTH_TOKEN": CANARY + "-revoked"}),
            ("ak/sk", {"HUAWEICLOUD_SDK_AK": sim.access_key, "HUAWEICLOUD_SDK_SK": CANARY}),
            ("old ak/sk", {"OS_ACCESS_KEY": sim.access_key, "OS_SECRET_KEY": CANARY + "-old"}),
        ]:
            with clean_env.context() as patch:
                for name, value in env.items():
                    patch.setenv(name, value)
                codes[label] = run_cli(exposure, label, *argv)
                codes[label + " json"] = run_cli(exposure, label + " json", *argv, "--json")
                # --log-level debug: every request and refusal logged to stderr.
                codes[label + " debug"] = run_cli(exposure, label, *argv, "-q", "-vv")
    exposure.assert_clean()
    assert codes == {
        "token": 0,
        "token json": 0,
        "token debug": 0,
        "revoked token": 3,
        "revoked token json": 3,
        "revoked token debug": 3,
        "ak/sk": 0,
        "ak/sk json": 0,
        "ak/sk debug": 0,
        "old ak/sk": 3,
        "old ak/sk json": 3,
        "old ak/sk debug": 3,
    }


# Built inside the test from a label: pytest prints a failing test's arguments.
MALFORMED_CREDENTIALS = {
    "token with a newline": ("OS_AUTH_TOKEN", "{canary}\n"),  # exported with its newline
    "token with a control character": ("OS_AUTH_TOKEN", "{canary}\x07"),
    "secret key with a newline": ("HUAWEICLOUD_SDK_SK", "{canary}\n"),
}


@pytest.mark.parametrize("case", MALFORMED_CREDENTIALS)
def test_the_command_line_refuses_a_malformed_credential_without_showing_it(
    exposure: Exposure, clean_env: pytest.MonkeyPatch, case: str
) -> None:
    name, template = MALFORMED_CREDENTIALS[case]
    clean_env.setenv(name, template.format(canary=CANARY))
    clean_env.setenv("HUAWEICLOUD_SDK_AK", "my-ak")
    # A loopback endpoint: were the credential accepted, nothing would leave the host.
    argv = ["watch", "--endpoint", "https://127.0.0.1:9", "--project-id", "p1", "j1"]
    code = run_cli(exposure, case, *argv)
    exposure.assert_clean()
    assert code == 2  # a configuration error, said on stderr, before any request


# -- the shared store ----------------------------------------------------------------------


async def test_nothing_secret_reaches_redis_or_its_streams(
    exposure: Exposure, redis_server: RedisServer, namespace: str
) -> None:
    # Two replicas watch jobs to their end, one failing, with the canary as the token and
    # as the Redis password in a URL; everything in Redis, the fleet's streams (its log
    # of endings and news, and its events) among it, is searched.
    url = f"redis://:{CANARY}@127.0.0.1:1/0"  # never connected: only its repr is searched
    exposure.show("store with a password", RedisStore(url, namespace=namespace))
    spy = aioredis.Redis.from_url(redis_server.url)
    try:
        async with EvsSimulator(token=CANARY, speed=100, failure_rate=0.5, seed=3) as sim:
            jobs = [sim.create_job("createVolume", count=2) for _ in range(4)]
            async with EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(CANARY)) as client:
                stores = [RedisStore(redis_server.url, namespace=namespace) for _ in range(2)]
                async with (
                    JobWatcher(client, policy=FAST, store=stores[0]) as a,
                    JobWatcher(client, policy=FAST, store=stores[1]) as b,
                ):
                    a.watch(jobs[0])
                    results = await asyncio.wait_for(
                        b.wait_all([*jobs, "0" * 32], return_exceptions=True), DEADLINE
                    )
                    exposure.show("stores", *stores, a, b, *results)
                    keys = [key async for key in spy.scan_iter(f"evs_job_watch:{{{namespace}}}:*")]
                    for key in keys:
                        kind = (await spy.type(key)).decode()
                        if kind == "none":
                            continue  # the key expired or was deleted since the scan
                        value = {
                            "string": spy.get,
                            "hash": spy.hgetall,
                            "zset": lambda k: spy.zrange(k, 0, -1, withscores=True),
                            "set": spy.smembers,
                            "stream": spy.xrange,
                        }[kind](key)
                        exposure.text(f"redis key {key!r}", repr(await value))
    finally:
        await spy.aclose()
    assert len(keys) > 3
    assert any(key.endswith(b":log") for key in keys)  # the endings were searched too
    exposure.assert_clean()
