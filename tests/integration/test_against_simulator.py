"""EvsJobClient and JobWatcher over real loopback HTTP, judged by the simulator's ground truth.

Each test creates jobs in an `EvsSimulator`, watches them through the real client and
watcher, and compares what the watcher reported (waiters and callbacks) with what the
simulator decided: every job's outcome, and the statuses of every job and sub-job in
order. Jobs run on the loop's clock at a high `speed`, and polls are tens of
milliseconds apart, so the tests take seconds; nothing asserts on how long they took.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import pytest
from yarl import URL

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    EvsJobClient,
    JobNotFoundError,
    JobWatcher,
    PollPolicy,
    TokenAuth,
    WatcherStats,
)
from evs_job_watch.simulator import EvsSimulator, Faults

from .truth import CountedSource, Recorder, assert_matches_truth, create_mix, fault_count

# 40 simulated seconds per loop second: a single disk job takes about 0.25 s, a batch
# about 0.6 s, and the INIT phase (0.3-2 simulated s) is often long enough to be seen.
SPEED = 40.0
POLICY = PollPolicy(
    interval=0.02,
    max_interval=0.1,
    multiplier=1.5,
    jitter=0.1,
    max_consecutive_errors=50,  # the error budget is not what these tests are about
    not_found_grace=5.0,
)
GUARD = 60.0  # an overall timeout so a hang fails the test instead of the run


def client_for(sim: EvsSimulator, auth: Any = None) -> EvsJobClient:
    return EvsJobClient(sim.endpoint, sim.project_id, auth=auth or TokenAuth(sim.token))


async def watch_all(
    sim: EvsSimulator,
    job_ids: Sequence[str],
    *,
    auth: Any = None,
    max_concurrency: int = 16,
    policy: PollPolicy = POLICY,
    counted: list[CountedSource] | None = None,
) -> tuple[list[Any], Recorder, WatcherStats]:
    """Wait for every job through a fresh client and watcher; results as in wait_all.

    With ``counted``, the watcher polls through a CountedSource, appended to it.
    """
    recorder = Recorder()
    async with client_for(sim, auth) as client:
        source: Any = client
        if counted is not None:
            source = CountedSource(client)
            counted.append(source)
        async with JobWatcher(
            source, policy=policy, max_concurrency=max_concurrency, **recorder.callbacks()
        ) as watcher:
            results = await watcher.wait_all(job_ids, timeout=GUARD, return_exceptions=True)
            assert watcher.watching() == frozenset()
            stats = watcher.stats
    return results, recorder, stats


async def run_with_faults(faults: Faults, *, jobs: int = 16, seed: int = 1) -> EvsSimulator:
    """Watch a mix of jobs under `faults`; assert the watcher told the truth; return the sim."""
    async with EvsSimulator(speed=SPEED, seed=seed, failure_rate=0.25, faults=faults) as sim:
        job_ids = create_mix(sim, jobs)
        results, recorder, _ = await watch_all(sim, job_ids)
    assert_matches_truth(sim, job_ids, results, recorder)
    return sim


# -- (a) a mixed job set with faults on -----------------------------------------------------


async def test_mixed_jobs_under_faults_are_reported_exactly_as_the_ground_truth() -> None:
    faults = Faults(
        server_error=0.1,
        throttle=0.03,
        retry_after=0.05,
        truncated=0.02,
        non_json=0.02,
        drop=0.02,
        latency=(0.0, 0.005),
    )
    async with EvsSimulator(
        speed=SPEED, seed=11, failure_rate=0.3, faults=faults, invisible_for=2.0
    ) as sim:
        job_ids = create_mix(sim, 40)
        results, recorder, stats = await watch_all(sim, job_ids)
        # Every watch ended with its job: nothing polls any more.
        requests = len(sim.requests)
        await asyncio.sleep(3 * POLICY.max_interval)
        assert len(sim.requests) == requests

    assert_matches_truth(sim, job_ids, results, recorder)
    # The set really was mixed, and the faults really happened.
    sub_ids = [sub for job_id in job_ids for sub in sim.sub_job_ids(job_id)]
    assert len(sub_ids) >= 20
    assert {sim.outcome(job_id) for job_id in job_ids} == {"SUCCESS", "FAIL"}
    assert {sim.outcome(sub) for sub in sub_ids} == {"SUCCESS", "FAIL"}
    assert fault_count(sim, "server_error") > 0
    assert stats.errors > 0
    # The callbacks saw jobs move, not only their ends.
    assert any(len(recorder.seen.get(job_id, [])) > 1 for job_id in job_ids)


# -- (b) one test per fault kind ------------------------------------------------------------


async def test_server_errors_are_retried_until_every_job_reports_its_true_outcome() -> None:
    sim = await run_with_faults(Faults(server_error=0.3))
    assert fault_count(sim, "server_error") > 0
    assert {r.status for r in sim.requests if r.fault == "server_error"} <= {500, 502, 503, 504}


async def test_429_with_retry_after_is_honoured_and_every_job_reports_its_true_outcome() -> None:
    retry_after = 0.15  # above max_interval, so an ignored Retry-After shows as a short gap
    sim = await run_with_faults(
        Faults(throttle=0.1, retry_after_share=1.0, retry_after=retry_after)
    )
    assert fault_count(sim, "throttle") > 0
    # The next query of a throttled job comes no sooner than Retry-After: lower bounds
    # on the loop clock, which a slow machine can only widen.
    by_job = defaultdict(list)
    for record in sim.requests:
        by_job[record.job_id].append(record)
    for records in by_job.values():
        records.sort(key=lambda record: record.at)
        for throttled, following in itertools.pairwise(records):
            if throttled.status == 429:
                assert following.at - throttled.at >= retry_after - 1e-6


async def test_429_without_retry_after_is_retried_until_every_job_reports_its_outcome() -> None:
    faults = Faults(throttle=0.15, retry_after_share=0.0)
    async with EvsSimulator(speed=SPEED, seed=2, failure_rate=0.25, faults=faults) as sim:
        job_ids = create_mix(sim, 16)
        results, recorder, stats = await watch_all(sim, job_ids)
    assert_matches_truth(sim, job_ids, results, recorder)
    assert fault_count(sim, "throttle") == stats.throttled > 0


async def test_latency_jitter_changes_no_reported_outcome() -> None:
    sim = await run_with_faults(Faults(latency=(0.005, 0.04)))
    assert fault_count(sim, "latency") == len(sim.requests)


async def test_truncated_bodies_are_retried_until_every_job_reports_its_outcome() -> None:
    sim = await run_with_faults(Faults(truncated=0.25))
    assert fault_count(sim, "truncated") > 0


async def test_non_json_bodies_are_retried_until_every_job_reports_its_outcome() -> None:
    sim = await run_with_faults(Faults(non_json=0.25))
    assert fault_count(sim, "non_json") > 0


async def test_dropped_connections_are_retried_until_every_job_reports_its_outcome() -> None:
    sim = await run_with_faults(Faults(drop=0.2))
    dropped = [record for record in sim.requests if record.fault == "drop"]
    assert dropped
    assert all(record.status == 0 for record in dropped)


async def test_new_jobs_invisible_for_a_while_are_followed_to_their_true_outcome() -> None:
    invisible_for = 8.0  # simulated seconds: 0.2 s of loop time at SPEED
    async with EvsSimulator(
        speed=SPEED, seed=3, failure_rate=0.25, invisible_for=invisible_for
    ) as sim:
        job_ids = create_mix(sim, 16)
        created_by = asyncio.get_running_loop().time()
        results, recorder, _ = await watch_all(sim, job_ids)
    assert_matches_truth(sim, job_ids, results, recorder)
    not_found = [record for record in sim.requests if record.status == 400]
    assert not_found
    # Not-found came only while the jobs were invisible, and every job was seen after.
    visible_by = created_by + invisible_for / SPEED
    assert all(record.at < visible_by for record in not_found)
    assert {record.job_id for record in sim.requests if record.status == 200} == set(job_ids)


async def test_a_job_that_never_appears_ends_with_job_not_found_after_the_grace() -> None:
    policy = PollPolicy(interval=0.02, max_interval=0.05, not_found_grace=0.2)
    async with EvsSimulator(speed=SPEED, seed=4) as sim:
        real = sim.create_job()
        ghost = "0" * 32
        results, recorder, _ = await watch_all(sim, [real, ghost], policy=policy)
    assert results[0].job_id == real
    assert isinstance(results[1], JobNotFoundError)
    assert results[1].job_id == ghost
    assert [job_id for job_id, _ in recorder.errors] == [ghost]
    assert sum(1 for record in sim.requests if record.job_id == ghost) >= 2
    assert ghost not in recorder.seen


# -- (c) credentials ------------------------------------------------------------------------


class RefusalCounter:
    """Wraps a credential to count the refusals the client met (each one asks for a refresh)."""

    def __init__(self, inner: TokenAuth, enough: int) -> None:
        self.inner = inner
        self.refusals = 0
        self.enough = enough
        self.reached = asyncio.Event()

    async def headers(self, method: str, url: URL) -> Mapping[str, str]:
        return await self.inner.headers(method, url)

    async def refresh(self, used: Mapping[str, str]) -> bool:
        self.refusals += 1
        if self.refusals >= self.enough:
            self.reached.set()
        return await self.inner.refresh(used)


async def test_a_token_rotated_mid_run_is_renewed_by_one_provider_call_for_all_polls() -> None:
    async with EvsSimulator(speed=SPEED, seed=5, failure_rate=0.25) as sim:
        calls = 0
        release = asyncio.Event()

        async def provider() -> str:
            nonlocal calls
            calls += 1
            if calls > 1:
                await release.wait()  # hold the renewal until several polls were refused
            return sim.token

        job_ids = create_mix(sim, 30)
        recorder = Recorder()
        auth = RefusalCounter(TokenAuth(provider), enough=3)
        async with (
            client_for(sim, auth) as client,
            JobWatcher(client, policy=POLICY, max_concurrency=16, **recorder.callbacks()) as w,
        ):
            waiting = asyncio.ensure_future(
                w.wait_all(job_ids, timeout=GUARD, return_exceptions=True)
            )
            await asyncio.wait_for(recorder.first_change.wait(), GUARD)
            assert calls == 1
            sim.rotate_token()
            # Several polls meet the old token, all while the one renewal is under way.
            await asyncio.wait_for(auth.reached.wait(), GUARD)
            release.set()
            results = await waiting

    assert_matches_truth(sim, job_ids, results, recorder)
    assert calls == 2
    assert auth.refusals >= 3
    assert sum(1 for record in sim.requests if record.status == 401) == auth.refusals


async def test_aksk_signed_requests_are_accepted_and_every_job_reports_its_outcome() -> None:
    async with EvsSimulator(speed=SPEED, seed=6, failure_rate=0.25) as sim:
        job_ids = create_mix(sim, 12)
        auth = AkSkAuth(sim.access_key, sim.secret_key)
        results, recorder, _ = await watch_all(sim, job_ids, auth=auth)
    assert_matches_truth(sim, job_ids, results, recorder)
    assert sim.requests
    assert {record.status for record in sim.requests} == {200}


async def test_a_wrong_secret_key_ends_every_watch_with_an_authentication_error() -> None:
    async with EvsSimulator(speed=SPEED, seed=6) as sim:
        job_ids = create_mix(sim, 4)
        auth = AkSkAuth(sim.access_key, "not-the-secret-key")
        results, recorder, _ = await watch_all(sim, job_ids, auth=auth)
    assert all(isinstance(result, AuthenticationError) for result in results)
    assert sorted(job_id for job_id, _ in recorder.errors) == sorted(job_ids)
    # Final at once: one refused query per job, no retries against a bad signature.
    assert sorted(record.job_id for record in sim.requests) == sorted(job_ids)


# -- (d) bounded in-flight --------------------------------------------------------------------


async def test_requests_in_flight_never_exceed_max_concurrency() -> None:
    limit = 8
    faults = Faults(latency=(0.005, 0.02), server_error=0.05)
    async with EvsSimulator(speed=SPEED, seed=7, faults=faults) as sim:
        job_ids = create_mix(sim, 120)
        counted: list[CountedSource] = []
        results, recorder, _ = await watch_all(sim, job_ids, max_concurrency=limit, counted=counted)
    assert_matches_truth(sim, job_ids, results, recorder)
    assert sim.max_in_flight <= limit
    # The watcher had a poll under way in every slot, so the limit was what held.
    assert [source.most for source in counted] == [limit]


# -- (e) the evs_simulator pytest fixture, as a user would use it ---------------------------


async def create_volume(
    http: aiohttp.ClientSession, sim: EvsSimulator, *, count: int = 1, size: int = 20
) -> str:
    """Create disks through the simulator's API, as a user's service would; the job id."""
    body = {"volume": {"size": size, "volume_type": "SSD", "name": "data", "count": count}}
    async with http.post(
        f"{sim.endpoint}/v2/{sim.project_id}/cloudvolumes",
        json=body,
        headers={"X-Auth-Token": sim.token},
    ) as response:
        assert response.status == 202
        job_id: str = (await response.json())["job_id"]
        return job_id


async def test_the_evs_simulator_fixture_serves_fast_fault_free_jobs_on_loopback(
    evs_simulator: EvsSimulator,
) -> None:
    assert evs_simulator.endpoint.startswith("http://127.0.0.1:")
    assert evs_simulator.speed == 100.0
    assert not evs_simulator.faults.active
    async with aiohttp.ClientSession() as http:
        job_id = await create_volume(http, evs_simulator)
    async with client_for(evs_simulator) as client, JobWatcher(client, policy=POLICY) as watcher:
        job = await watcher.wait(job_id, timeout=GUARD)
    assert job.status.value == evs_simulator.outcome(job_id) == "SUCCESS"
    assert job.entities.size == 20


class TestTheFixtureWithUserOptions:
    """A user overrides `evs_simulator_options` to get failures and faults."""

    @pytest.fixture
    def evs_simulator_options(self) -> dict[str, object]:
        return {"seed": 8, "failure_rate": 0.4, "faults": Faults(server_error=0.2)}

    async def test_disks_created_extended_and_deleted_through_the_api_end_as_the_truth(
        self, evs_simulator: EvsSimulator
    ) -> None:
        sim = evs_simulator
        assert sim.failure_rate == 0.4
        recorder = Recorder()
        async with (
            aiohttp.ClientSession() as http,
            client_for(sim) as client,
            JobWatcher(client, policy=POLICY, **recorder.callbacks()) as watcher,
        ):
            created = [await create_volume(http, sim) for _ in range(6)]
            created.append(await create_volume(http, sim, count=3))
            results = await watcher.wait_all(created, timeout=GUARD, return_exceptions=True)
            # Extend and delete the disks that were made, through the API too.
            volumes = [r.entities.volume_id for r in results[:-1] if hasattr(r, "entities")]
            assert volumes
            follow_up = []
            project = f"{sim.endpoint}/v2/{sim.project_id}/cloudvolumes"
            token = {"X-Auth-Token": sim.token}
            for index, volume_id in enumerate(volumes):
                if index % 2:
                    call = http.delete(f"{project}/{volume_id}", headers=token)
                else:
                    extend = {"os-extend": {"new_size": 40}}
                    call = http.post(f"{project}/{volume_id}/action", json=extend, headers=token)
                async with call as response:
                    assert response.status in (200, 202)
                    follow_up.append((await response.json())["job_id"])
            results += await watcher.wait_all(follow_up, timeout=GUARD, return_exceptions=True)

        job_ids = created + follow_up
        assert_matches_truth(sim, job_ids, results, recorder)
        assert {sim.outcome(job_id) for job_id in job_ids} == {"SUCCESS", "FAIL"}
        assert fault_count(sim, "server_error") > 0
