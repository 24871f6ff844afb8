"""Ready mode: a job is complete once what it made is usable, its disks read in batches."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterable
from pathlib import Path

import aiohttp
import orjson
import pytest

from evs_job_watch import (
    EvsJobClient,
    Job,
    JobEntities,
    JobEvent,
    JobFailedError,
    JobStatus,
    JobType,
    JobWatcher,
    PollPolicy,
    TokenAuth,
    Volume,
    VolumeFailedError,
)
from evs_job_watch._core._events import Statuses
from evs_job_watch._core._ready import Need, Readiness, failed_after_success, judge, needs
from evs_job_watch.simulator import EvsSimulator, Quirks

from .scripted import FAST, Recorder, ScriptedClient


def _job(
    job_id: str,
    status: str,
    volume_id: str | None = None,
    *,
    job_type: str = "createVolume",
    size: int | None = None,
    server_id: str | None = None,
    subs: Iterable[Job] = (),
) -> Job:
    entities = JobEntities(
        volume_id=volume_id, size=size, server_id=server_id, sub_jobs=tuple(subs)
    )
    kind = JobType(job_type)
    return Job(job_id=job_id, status=JobStatus(status), job_type=kind, entities=entities)


class DiskClient(ScriptedClient):
    """A scripted job source that also reads disks, from ``disks`` as the test sets them."""

    def __init__(self) -> None:
        super().__init__()
        self.disks: dict[str, Volume] = {}
        self.listings: list[tuple[float, list[str]]] = []

    async def list_volumes(self, volume_ids: Iterable[str]) -> list[Volume]:
        ids = list(volume_ids)
        self.listings.append((asyncio.get_running_loop().time(), ids))
        return [self.disks[one] for one in ids if one in self.disks]


# -- the decisions, without a loop ---------------------------------------------------------


def test_a_create_is_ready_once_its_disk_is_usable() -> None:
    job = _job("j", "SUCCESS", "v1")
    wanted = needs(job)
    assert wanted == (Need("v1", "usable"),)
    assert judge(job, 1, wanted, None) is None  # not read yet
    assert judge(job, 1, wanted, {"v1": Volume("v1", "creating")}) is None
    assert judge(job, 1, wanted, {"v1": None}) is None  # not visible yet
    assert judge(job, 1, wanted, {"v1": Volume("v1", "available")}) is job
    assert judge(job, 1, wanted, {"v1": Volume("v1", "in-use")}) is job
    assert judge(job, 0, wanted, {"v1": Volume("v1", "available")}) is None  # RUNNING again


def test_a_disk_in_error_fails_the_job_with_its_reason() -> None:
    job = _job("j", "SUCCESS", "v1", job_type="extendVolume", size=40)
    verdict = judge(job, 1, needs(job), {"v1": Volume("v1", "error_extending", 10)})
    assert isinstance(verdict, VolumeFailedError)
    assert isinstance(verdict, JobFailedError)
    assert (verdict.volume_id, verdict.volume_status, verdict.job) == ("v1", "error_extending", job)
    assert "v1" in str(verdict) and "error_extending" in str(verdict)


def test_an_extend_waits_for_the_new_size() -> None:
    job = _job("j", "SUCCESS", "v1", job_type="extendVolume", size=40)
    assert judge(job, 1, needs(job), {"v1": Volume("v1", "available", 10)}) is None
    assert judge(job, 1, needs(job), {"v1": Volume("v1", "available", 40)}) is job


def test_a_delete_is_ready_once_the_disk_is_gone() -> None:
    job = _job("j", "SUCCESS", "v1", job_type="deleteVolume")
    assert judge(job, 1, needs(job), {"v1": Volume("v1", "deleting")}) is None
    assert judge(job, 1, needs(job), {}) is job


def test_an_attach_wants_two_successes_in_a_row_and_the_disk_attached() -> None:
    job = _job("j", "SUCCESS", "v1", job_type="attachVolume", server_id="s1")
    attached = {"v1": Volume("v1", "in-use", 10, None, ("s1",))}
    assert judge(job, 1, needs(job), attached) is None
    assert judge(job, 2, needs(job), {"v1": Volume("v1", "attaching")}) is None
    assert judge(job, 2, needs(job), {"v1": Volume("v1", "in-use", 10, None, ("s2",))}) is None
    assert judge(job, 2, needs(job), attached) is job
    detach = _job("k", "SUCCESS", "v1", job_type="detachVolume", server_id="s1")
    assert judge(detach, 2, needs(detach), attached) is None
    assert judge(detach, 2, needs(detach), {"v1": Volume("v1", "available")}) is detach


def test_a_job_that_names_no_disk_wants_two_successes_in_a_row() -> None:
    job = _job("j", "SUCCESS", job_type="createServer")
    assert needs(job) == ()
    assert judge(job, 1, (), None) is None
    assert judge(job, 2, (), None) is job


def test_a_batch_needs_every_disk_of_its_sub_jobs() -> None:
    subs = [_job(f"s{n}", "SUCCESS", f"v{n}") for n in range(3)]
    job = _job("j", "SUCCESS", job_type="batchCreateVolume", subs=subs)
    assert [need.volume_id for need in needs(job)] == ["v0", "v1", "v2"]
    disks = {f"v{n}": Volume(f"v{n}", "available") for n in range(3)}
    assert judge(job, 1, needs(job), disks) is job
    assert judge(job, 1, needs(job), {**disks, "v2": Volume("v2", "creating")}) is None


# -- the watcher ---------------------------------------------------------------------------


@pytest.mark.virtual_clock
async def test_on_complete_waits_for_the_disk_and_gets_a_ready_event() -> None:
    client = DiskClient()
    client.timeline("j", (0, _job("j", "RUNNING", "v1")), (3, _job("j", "SUCCESS", "v1")))
    client.disks["v1"] = Volume("v1", "creating")
    loop = asyncio.get_running_loop()
    seen: list[tuple[str, str, bool, float]] = []

    def change(event: JobEvent) -> None:
        seen.append(("change", event.status.value, event.ready, loop.time()))

    def complete(event: JobEvent) -> None:
        seen.append(("complete", event.status.value, event.ready, loop.time()))

    loop.call_at(loop.time() + 7.5, client.disks.__setitem__, "v1", Volume("v1", "available"))
    async with JobWatcher(
        client, policy=FAST, on_status_change=change, on_complete=complete, ready=True
    ) as watcher:
        stream = watcher.events()
        job = await watcher.wait("j")
    assert job.status is JobStatus.SUCCESS
    assert [entry[:3] for entry in seen] == [
        ("change", "RUNNING", False),
        ("change", "SUCCESS", False),  # the job is done ...
        ("complete", "SUCCESS", True),  # ... and, later, ready
    ]
    assert seen[1][3] == 3.0
    assert 7.5 <= seen[2][3] <= 7.5 + FAST.interval
    events = [event async for event in stream]
    assert [(event.status.value, event.ready) for event in events][-2:] == [
        ("SUCCESS", False),
        ("SUCCESS", True),
    ]


@pytest.mark.virtual_clock
async def test_without_ready_mode_on_complete_fires_at_success() -> None:
    client = DiskClient()
    client.timeline("j", (0, _job("j", "RUNNING", "v1")), (3, _job("j", "SUCCESS", "v1")))
    completed: list[JobEvent] = []
    async with JobWatcher(client, policy=FAST, on_complete=completed.append) as watcher:
        await watcher.wait("j")
        assert len(completed) == 1 and not completed[0].ready
        assert client.listings == []
        # ready= per call turns it on for one job only.
        client.timeline("k", (0, _job("k", "SUCCESS", "v2")))
        client.disks["v2"] = Volume("v2", "available")
        await watcher.wait("k", ready=True)
        assert [ids for _, ids in client.listings] == [["v2"]]
        assert completed[-1].ready


@pytest.mark.virtual_clock
async def test_a_disk_in_error_fails_the_watch() -> None:
    client = DiskClient()
    client.timeline("j", (0, _job("j", "SUCCESS", "v1")))
    client.disks["v1"] = Volume("v1", "error")
    errors: list[BaseException] = []
    async with JobWatcher(
        client, policy=FAST, ready=True, on_error=lambda _, exc: errors.append(exc)
    ) as watcher:
        with pytest.raises(VolumeFailedError, match="reads 'error'"):
            await watcher.wait("j")
    assert len(errors) == 1 and isinstance(errors[0], VolumeFailedError)


@pytest.mark.virtual_clock
async def test_an_early_success_then_running_again_is_not_trusted() -> None:
    client = DiskClient()
    client.script(
        "j",
        _job("j", "SUCCESS", "v1", job_type="attachVolume", server_id="s1"),
        _job("j", "RUNNING", "v1", job_type="attachVolume", server_id="s1"),
        _job("j", "SUCCESS", "v1", job_type="attachVolume", server_id="s1"),
    )
    client.disks["v1"] = Volume("v1", "in-use", 10, None, ("s1",))  # attached all along
    async with JobWatcher(client, policy=FAST, ready=True) as watcher:
        await watcher.wait("j")
    # SUCCESS, RUNNING, SUCCESS, SUCCESS: the two in a row came at the fourth poll.
    assert len(client.polls("j")) == 4


@pytest.mark.virtual_clock
async def test_disks_of_every_watch_are_read_together_sixty_at_a_time() -> None:
    client = DiskClient()
    ids = [f"j{n}" for n in range(130)]
    for n, job_id in enumerate(ids):
        client.timeline(job_id, (0, _job(job_id, "SUCCESS", f"v{n}")))
    loop = asyncio.get_running_loop()
    # Usable one round later: the first round reads them all, in three listings.
    loop.call_at(
        loop.time() + 0.5,
        client.disks.update,
        {f"v{n}": Volume(f"v{n}", "available") for n in range(130)},
    )
    async with JobWatcher(client, policy=FAST, ready=True) as watcher:
        await watcher.wait_all(ids)
    sizes = [len(batch) for _, batch in client.listings]
    assert max(sizes) == 60
    assert sizes[:3] == [60, 60, 10]
    assert len(client.listings) == 6  # two rounds: one per 60 disks each


@pytest.mark.virtual_clock
async def test_disk_reads_take_their_turn_under_the_rate_limit() -> None:
    client = DiskClient()
    ids = [f"j{n}" for n in range(70)]
    for n, job_id in enumerate(ids):
        client.timeline(job_id, (0, _job(job_id, "SUCCESS", f"v{n}")))
        client.disks[f"v{n}"] = Volume(f"v{n}", "available")
    async with JobWatcher(client, policy=FAST, ready=True, rate_limit=20) as watcher:
        await watcher.wait_all(ids)
    sent = sorted([at for _, at in client.calls] + [at for at, _ in client.listings])
    assert len(client.listings) < len(ids) / 10  # batched, not one read per disk
    assert all(b - a >= 1 / 20 - 1e-9 for a, b in itertools.pairwise(sent))


async def test_ready_mode_needs_a_client_that_reads_disks() -> None:
    async with JobWatcher(ScriptedClient()) as watcher:
        with pytest.raises(TypeError, match="list_volumes"):
            watcher.watch("j", ready=True)
    with pytest.raises(TypeError, match="list_volumes"):
        JobWatcher(ScriptedClient(), ready=True)


@pytest.mark.virtual_clock
async def test_the_state_file_keeps_the_ready_phase_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    client = DiskClient()
    client.timeline("j", (0, _job("j", "RUNNING", "v1")), (2, _job("j", "SUCCESS", "v1")))
    client.disks["v1"] = Volume("v1", "creating")
    first: list[JobEvent] = []
    async with JobWatcher(
        client, policy=FAST, ready=True, state_path=state, on_status_change=first.append
    ) as watcher:
        handle = watcher.watch("j")
        await asyncio.sleep(5)
        assert first[-1].status is JobStatus.SUCCESS and not handle.done()
    saved = orjson.loads(state.read_bytes())
    assert saved["watches"] == [
        {"job_id": "j", "status": "SUCCESS", "sub_jobs": {}, "timeout": None, "ready": True}
    ]
    client.disks["v1"] = Volume("v1", "available")
    again: list[JobEvent] = []
    callbacks = {"on_complete": again.append, "on_status_change": again.append}
    async with JobWatcher(client, policy=FAST, state_path=state, **callbacks) as watcher:
        await asyncio.sleep(3)
    # The SUCCESS is not told again; the ready event is, once the disk is usable.
    assert [(event.status.value, event.ready) for event in again] == [("SUCCESS", True)]
    assert orjson.loads(state.read_bytes())["watches"] == []


# -- the proof: a service that attaches a disk on on_complete ------------------------------


class AttachingService:
    """Creates disks and attaches each one the moment its job completes; the attach
    (as ECS does) refuses a disk that does not read ``available``."""

    def __init__(self, sim: EvsSimulator, http: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.http = http
        self.attached: list[str] = []
        self.refused: list[tuple[str, str]] = []

    async def on_complete(self, event: JobEvent) -> None:
        volume_id = event.job.entities.volume_id
        assert volume_id is not None
        url = f"{self.sim.endpoint}/v2/{self.sim.project_id}/os-vendor-volumes/{volume_id}"
        async with self.http.get(url, headers={"X-Auth-Token": self.sim.token}) as response:
            volume = orjson.loads(await response.read()).get("volume", {})
        if volume.get("status") == "available":
            self.attached.append(volume_id)
        else:
            self.refused.append((volume_id, str(volume.get("status"))))


async def _run_service(ready: bool) -> AttachingService:
    # Jobs of 20 simulated seconds at 20x; SUCCESS is read once 10 s early, and the disk
    # turns available 10 s after the real SUCCESS: both quirks at once, each half a
    # second of the loop's time, far longer than the polls' 0.02 s.
    quirks = Quirks(early_success=10.0, volume_lag=10.0)
    policy = PollPolicy(interval=0.01, max_interval=0.02, jitter=0, latency=None)
    async with (
        EvsSimulator(speed=20.0, quirks=quirks, durations={"createVolume": 20.0}) as sim,
        aiohttp.ClientSession() as http,
        EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
    ):
        service = AttachingService(sim, http)
        job_ids = [sim.create_job("createVolume") for _ in range(5)]
        async with JobWatcher(client, policy=policy, on_complete=service.on_complete) as watcher:
            await asyncio.gather(*(watcher.wait(job_id, ready=ready) for job_id in job_ids))
        assert math.isfinite(max(sim.ended_at(job_id) for job_id in job_ids))
    return service


async def test_a_service_that_attaches_on_complete_fails_without_ready_mode() -> None:
    service = await _run_service(ready=False)
    assert len(service.refused) == 5
    assert {status for _, status in service.refused} == {"creating"}
    assert service.attached == []


async def test_a_service_that_attaches_on_complete_succeeds_in_ready_mode() -> None:
    service = await _run_service(ready=True)
    assert len(service.attached) == 5
    assert service.refused == []


# -- an early SUCCESS that fails after all ----------------------------------------------------


def test_a_success_that_turns_to_fail_is_an_event_sub_jobs_first() -> None:
    seen = Statuses(JobStatus.SUCCESS, {"s0": JobStatus.SUCCESS, "s1": JobStatus.RUNNING})
    subs = [_job("s0", "FAIL", "v0"), _job("s1", "FAIL", "v1")]
    job = _job("j", "FAIL", job_type="batchCreateVolume", subs=subs)
    events = failed_after_success(seen, job, seen.changes(job))
    assert [(e.job_id, e.previous, e.status) for e in events] == [
        ("s1", JobStatus.RUNNING, JobStatus.FAIL),  # diff's
        ("s0", JobStatus.SUCCESS, JobStatus.FAIL),  # an early SUCCESS that failed
        ("j", JobStatus.SUCCESS, JobStatus.FAIL),
    ]
    assert events[-1].event_id == "j:SUCCESS>FAIL"
    # Nothing to add when nothing read SUCCESS before: diff's events as they are.
    running = Statuses(JobStatus.RUNNING)
    plain = running.changes(job)
    assert failed_after_success(running, job, plain) is plain


@pytest.mark.virtual_clock
@pytest.mark.parametrize("ready", [True, False])
async def test_a_success_then_fail_fails_the_watch_in_ready_mode_only(ready: bool) -> None:
    client = DiskClient()
    client.script(
        "j",
        _job("j", "SUCCESS", "v1", job_type="attachVolume", server_id="s1"),
        _job("j", "RUNNING", "v1", job_type="attachVolume", server_id="s1"),
        _job("j", "FAIL", "v1", job_type="attachVolume", server_id="s1"),
    )
    client.disks["v1"] = Volume("v1", "available")
    recorder = Recorder()
    async with JobWatcher(client, policy=FAST, ready=ready, **recorder.callbacks()) as watcher:
        stream = watcher.events()
        handle = watcher.watch("j")
        if ready:
            with pytest.raises(JobFailedError) as raised:
                await handle
            assert raised.value.job.status is JobStatus.FAIL
        else:
            assert (await handle).status is JobStatus.SUCCESS  # the first SUCCESS is final
    events = [(e.previous, e.status) async for e in stream]
    if ready:
        assert recorder.calls == [
            ("change", "j", "SUCCESS", None, None),
            ("change", "j", "FAIL", "SUCCESS", None),
            ("fail", "j", "FAIL", "SUCCESS", None),
        ]
        assert events == [(None, JobStatus.SUCCESS), (JobStatus.SUCCESS, JobStatus.FAIL)]
        assert len(client.polls("j")) == 3
    else:
        assert recorder.calls == [
            ("change", "j", "SUCCESS", None, None),
            ("complete", "j", "SUCCESS", None, None),
        ]
        assert len(client.polls("j")) == 1


@pytest.mark.parametrize("ready", [True, False])
async def test_the_simulators_early_success_of_a_failing_job(ready: bool) -> None:
    # The job fails at 20 simulated seconds (one of the loop's at 20x); it reads SUCCESS
    # once in its last 10.
    policy = PollPolicy(interval=0.01, max_interval=0.02, jitter=0, latency=None)
    failed: list[JobEvent] = []
    async with (
        EvsSimulator(speed=20.0, quirks=Quirks(early_success=10.0)) as sim,
        EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
    ):
        job_id = sim.add_job("createVolume", timeline=[(0, "RUNNING"), (20, "FAIL")])
        async with JobWatcher(client, policy=policy, on_fail=failed.append) as watcher:
            handle = watcher.watch(job_id, ready=ready)
            if ready:
                with pytest.raises(JobFailedError):
                    await handle
            else:
                job = await handle
                assert job.status is JobStatus.SUCCESS  # believed, and final
                assert asyncio.get_running_loop().time() < sim.ended_at(job_id)
    assert sim.outcome(job_id) == "FAIL"
    if ready:
        assert [(e.previous, e.status) for e in failed] == [(JobStatus.SUCCESS, JobStatus.FAIL)]
    else:
        assert failed == []


def test_a_ready_phase_handed_to_another_replica_starts_over_here() -> None:
    wanted: list[tuple[str, ...]] = []
    dropped: list[object] = []
    decided: list[object] = []

    class Reader:
        def want(self, readiness: Readiness, volume_ids: tuple[str, ...]) -> None:
            wanted.append(volume_ids)

        def drop(self, readiness: Readiness) -> None:
            dropped.append(readiness)

    readiness = Readiness(Reader(), decided.append)
    readiness.answered(_job("j", "SUCCESS", "v1"))
    assert wanted == [("v1",)] and readiness.waiting
    readiness.reset()  # the watch yielded: another replica polls it now
    assert dropped == [readiness] and not readiness.waiting and readiness.successes == 0
    readiness.read({"v1": Volume("v1", "available")})  # a listing already under way
    assert decided == []  # decides nothing here: the job's SUCCESS is read again first
    readiness.answered(_job("j", "SUCCESS", "v1"))  # polled here again later
    assert wanted == [("v1",), ("v1",)] and decided == []  # the disks not read since
    readiness.read({"v1": Volume("v1", "available")})
    assert decided == [_job("j", "SUCCESS", "v1")]
