"""Type-checked use of the public API, the way a user writes it (never run).

``mypy --strict tests/typing/api.py`` must pass: a change that breaks a caller's types
breaks this file first.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import datetime, timedelta

import aiohttp
from typing_extensions import Unpack

from evs_job_watch import (
    AkSkAuth,
    ApiError,
    AuthenticationError,
    CompletedJobs,
    ConnectionSetupError,
    Credentials,
    EventStream,
    EvsApiError,
    EvsJobClient,
    EvsJobWatchError,
    HttpOptions,
    HttpSettings,
    Job,
    JobEntities,
    JobEvent,
    JobFailedError,
    JobHandle,
    JobNotFoundError,
    JobStatus,
    JobType,
    JobWatcher,
    MalformedResponseError,
    MetadataCredentials,
    PasswordAuth,
    PollPolicy,
    ServerError,
    Snapshot,
    ThrottledError,
    TokenAuth,
    Volume,
    VolumeFailedError,
    WatcherClosedError,
    WatcherStats,
    WatchTimeoutError,
    __version__,
    endpoint_for,
)

version: str = __version__


async def fetch_token() -> str:
    return "token-from-iam"


def describe(job: Job) -> str:
    status: JobStatus = job.status
    kind: JobType | None = job.job_type
    begin: datetime | None = job.begin_time
    end: datetime | None = job.end_time
    entities: JobEntities = job.entities
    size: int | None = entities.size
    volume_id: str | None = entities.volume_id
    name: str | None = entities.name
    volume_type: str | None = entities.volume_type
    server_id: str | None = entities.server_id
    nic_id: str | None = entities.nic_id
    extra: Mapping[str, object] = entities.extra
    subs: tuple[Job, ...] = job.sub_jobs
    error: ApiError | None = job.error
    code: str | None = error.code if error is not None else job.error_code
    reason: str | None = job.fail_reason
    terminal: bool = job.is_terminal and status.is_terminal
    known: bool = status.is_known and (kind is None or kind.is_known)
    return (
        f"{job.job_id} {status.value} {kind} {begin} {end} {size} {volume_id} {name} "
        f"{volume_type} {len(extra)} {len(subs)} {code} {reason} {terminal} {known} "
        f"{server_id} {nic_id}"
    )


def on_change(event: JobEvent) -> None:
    previous: JobStatus | None = event.previous
    parent: Job | None = event.parent
    sub: bool = event.is_sub_job
    print(event.job_id, previous, event.status, parent, sub, describe(event.job))


async def on_complete(event: JobEvent) -> None:
    print("done", event.job_id)


def on_fail(event: JobEvent) -> None:
    print("failed", event.job.fail_reason)


async def on_error(job_id: str, error: BaseException) -> None:
    print(job_id, error)


async def query_one() -> Job:
    auth = TokenAuth(fetch_token)
    async with EvsJobClient(
        "https://evs.eu-de.otc.t-systems.com",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        auth=auth,
        timeout=10.0,
    ) as client:
        endpoint: str = client.endpoint
        project: str = client.project_id
        print(endpoint, project)
        try:
            return await client.get_job("4b5c6d7e8f90a1b2c3d4e5f60718293a")
        except ThrottledError as exc:
            retry_after: float | None = exc.retry_after
            print(retry_after)
            raise
        except (JobNotFoundError, AuthenticationError, ServerError) as exc:
            status: int | None = exc.status
            code: str | None = exc.code
            message: str = exc.message
            job_id: str | None = exc.job_id
            print(status, code, message, job_id)
            raise
        except MalformedResponseError as exc:
            excerpt: str = exc.excerpt
            print(excerpt, exc.job_id)
            raise


async def poll_until_it_changes(client: EvsJobClient, job_id: str) -> Job:
    first = await client.poll_job(job_id)
    answer = await client.poll_job(job_id, first)
    while answer is first:  # the same body: nothing was decoded
        answer = await client.poll_job(job_id, answer)
    changed: Job = answer.job
    return changed


async def watch_many(session: aiohttp.ClientSession, job_ids: list[str]) -> list[Job]:
    client = EvsJobClient(
        "https://evs.eu-de.otc.t-systems.com",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        auth=AkSkAuth("access-key", "secret-key"),
        session=session,
    )
    policy = PollPolicy(
        interval=timedelta(seconds=5),
        max_interval=30.0,
        multiplier=1.5,
        jitter=0.1,
        max_consecutive_errors=10,
        not_found_grace=timedelta(seconds=30),
        latency=timedelta(seconds=6),
    )
    finished: list[Job] = []
    async with JobWatcher(
        client,
        policy=policy,
        max_concurrency=32,
        rate_limit=20.0,
        on_status_change=on_change,
        on_complete=on_complete,
        on_fail=on_fail,
        on_error=on_error,
    ) as watcher:
        handle: JobHandle = watcher.watch(job_ids[0], timeout=600.0)
        latest: Job | None = handle.latest
        print(handle.job_id, latest, handle.done())
        try:
            finished.append(await handle)
        except JobFailedError as exc:
            failed: Job = exc.job
            finished.append(failed)
        except WatchTimeoutError as exc:
            print(exc.job_id, exc.timeout)
        handle.cancel()

        finished.append(await watcher.wait(job_ids[1], timeout=timedelta(minutes=10)))
        try:
            finished.append(await watcher.wait(job_ids[1], ready=True))
        except VolumeFailedError as exc:
            print(exc.job, exc.volume_id, exc.volume_status)
        ready_handle: JobHandle = watcher.watch(job_ids[0], ready=None)
        print(ready_handle.done())

        results: list[Job | BaseException] = await watcher.wait_all(
            job_ids, timeout=900.0, return_exceptions=True
        )
        for result in results:
            if isinstance(result, Job):
                finished.append(result)
        # Without return_exceptions every result is a Job: errors are raised instead.
        succeeded: list[Job] = await watcher.wait_all(job_ids, timeout=900.0)
        print(succeeded[0].status)

        async for job in watcher.as_completed(job_ids, timeout=900.0):
            finished.append(job)
        completed: CompletedJobs = watcher.as_completed(job_ids, timeout=timedelta(minutes=15))
        async with completed as jobs:
            async for job in jobs:
                finished.append(job)
                break

        snapshot: Snapshot = watcher.snapshot()
        resumed: list[JobHandle] = watcher.resume(snapshot)
        stats: WatcherStats = watcher.stats
        print(len(resumed), stats.polls, stats.errors, stats.throttled, stats.in_flight)

        stream: EventStream = watcher.events()
        async with stream:
            async for event in stream:
                print(event.status)
                break
    await client.aclose()
    return finished


def classify(error: EvsJobWatchError) -> str:
    if isinstance(error, EvsApiError):
        return f"api {error.status} {error.code}"
    if isinstance(error, WatcherClosedError):
        return f"closed {error.job_id}"
    return str(error)


async def temporary_keys() -> Credentials:
    return Credentials("ak", "sk", security_token="st", expires_at=None)


async def production_clients(ca: ssl.SSLContext) -> None:
    password = PasswordAuth(
        "user",
        "password",
        domain_name="OTC00000000001000000001",
        project_name="eu-de",
        iam_endpoint=endpoint_for("otc", "eu-de", "iam"),
        proxy="http://proxy.example:3128",
    )
    project: str = await password.resolve_project_id()
    for auth in (
        password,
        AkSkAuth("ak", "sk", security_token="st"),
        AkSkAuth.from_provider(temporary_keys),
        AkSkAuth.from_provider(MetadataCredentials()),
    ):
        async with EvsJobClient(
            endpoint_for("otc", "eu-de", service="ecs"),
            project,
            auth=auth,
            ssl=ca,
            proxy=None,
            trust_env=True,
        ) as client:
            await client.get_job("4b5c6d7e8f90a1b2c3d4e5f60718293a")
            disks: list[Volume] = await client.list_volumes(["v1", "v2"])
            for disk in disks:
                size: int | None = disk.size
                print(disk.volume_id, disk.status, size, disk.server_ids, disk.is_usable)
    client = await EvsJobClient.from_environment("otc", service="evs", ssl="/etc/ssl/ca.pem")
    await client.aclose()
    corporate = HttpSettings(
        ssl=ca, proxy="http://proxy.example:3128", timeout=timedelta(seconds=10)
    )
    shown: float = corporate.timeout
    print(shown, corporate.proxy, corporate.trust_env, corporate.allow_insecure_http)
    client = await EvsJobClient.from_environment("otc", http=corporate, timeout=5.0)
    same: HttpSettings = client.http
    print(same, PasswordAuth("u", "p", domain_name="d", project_id="p", iam_endpoint="", http=same))
    print(with_timeout(endpoint_for("otc", "eu-de"), "p", timeout=5, trust_env=False))
    try:
        await client.get_job("4b5c6d7e8f90a1b2c3d4e5f60718293a")
    except ConnectionSetupError as exc:
        where: tuple[str, str, int | None] = (exc.scheme, exc.host, exc.port)
        reason: str = exc.reason
        proxy: str | None = exc.proxy
        print(where, reason, proxy, exc.job_id)
    await client.aclose()


def with_timeout(endpoint: str, project_id: str, **options: Unpack[HttpOptions]) -> EvsJobClient:
    """A wrapper that passes the connection settings on, typed as the client types them."""
    return EvsJobClient(endpoint, project_id, **options)
