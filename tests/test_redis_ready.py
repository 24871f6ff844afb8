"""Ready mode on RedisStore, against a real redis-server: the ready phase is recorded with
the fleet's watch, so the replica that polls it next (after a handover, a restart) goes on
with it; a ready hold that joins a fleet's watch puts it in ready mode everywhere."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson

from evs_job_watch import JobEvent, JobStatus, VolumeFailedError
from evs_job_watch._core._events import Statuses
from evs_job_watch._core._ready import ReadyStatuses
from evs_job_watch._models import Job, JobEntities, JobType
from evs_job_watch.redis import RedisServer, _wire
from evs_job_watch.simulator import EvsSimulator, Quirks

from .redis_fleet import GUARD, replica, until

# createVolume jobs of 10 simulated seconds at 10x (one of the loop's), whose disk turns
# available 20 simulated seconds (two of the loop's) after the job's SUCCESS.
SPEED, LAG = 10.0, 20.0


class Lines:
    """Every callback of every replica: (replica, kind, job id, status, ready)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, str, bool]] = []

    def callbacks(self, name: str) -> dict[str, Callable[[JobEvent], None]]:
        def reporter(kind: str) -> Callable[[JobEvent], None]:
            def report(event: JobEvent) -> None:
                status = event.status.value
                self.lines.append((name, kind, event.job_id, status, event.ready))

            return report

        return {"on_status_change": reporter("change"), "on_complete": reporter("complete")}


def _simulator() -> EvsSimulator:
    return EvsSimulator(
        speed=SPEED, seed=5, quirks=Quirks(volume_lag=LAG), durations={"createVolume": 10.0}
    )


async def test_the_next_replica_goes_on_with_the_ready_phase(
    redis_server: RedisServer, namespace: str
) -> None:
    lines = Lines()
    loop = asyncio.get_running_loop()
    async with _simulator() as sim, contextlib.AsyncExitStack() as stack:
        job_id = sim.create_job("createVolume")
        a = await stack.enter_async_context(
            replica(sim, redis_server.url, namespace, "a", **lines.callbacks("a"))
        )
        first = a.watch(job_id, ready=True)  # only this hold asks for ready mode
        await until(
            lambda: ("a", "change", job_id, "SUCCESS", False) in lines.lines,
            "a delivered the job's SUCCESS",
        )
        async with replica(sim, redis_server.url, namespace, "b", **lines.callbacks("b")) as b:
            stream = b.events()
            waiting = b.watch(job_id)
            await stack.aclose()  # a stops (as in a restart): b polls the watch from here
            assert first.latest is not None  # the disk is not usable yet:
            assert sim.disks.usable_at(str(first.latest.entities.volume_id)) > loop.time()
            job = await asyncio.wait_for(waiting, GUARD)
            done_at = loop.time()
            stream.close()
            told = [(event.status.value, event.ready) async for event in stream]
            assert told[-1] == ("SUCCESS", True)  # the ready event, on b's stream
        volume_id = job.entities.volume_id
        assert volume_id is not None
        assert done_at >= sim.disks.usable_at(volume_id)  # b waited for the disk
    assert job.status is JobStatus.SUCCESS
    # The SUCCESS was delivered once, by a; the ready event by b, once the disk was usable.
    changes = [line for line in lines.lines if line[1] == "change" and line[3] == "SUCCESS"]
    assert changes == [("a", "change", job_id, "SUCCESS", False)]
    completes = [line for line in lines.lines if line[1] == "complete"]
    assert completes == [("b", "complete", job_id, "SUCCESS", True)]


async def test_a_ready_hold_puts_the_fleets_watch_in_ready_mode(
    redis_server: RedisServer, namespace: str
) -> None:
    lines = Lines()
    loop = asyncio.get_running_loop()
    async with _simulator() as sim:
        jobs = [sim.create_job("createVolume") for _ in range(6)]
        async with (
            replica(sim, redis_server.url, namespace, "a", **lines.callbacks("a")) as a,
            replica(sim, redis_server.url, namespace, "b", **lines.callbacks("b")) as b,
        ):
            plain = [a.watch(job_id) for job_id in jobs]  # added to the fleet without it
            await until(lambda: a.stats.polls + b.stats.polls >= len(jobs), "first polls")
            ready = [b.watch(job_id, ready=True) for job_id in jobs]  # ready mode joins
            results = await asyncio.wait_for(asyncio.gather(*plain, *ready), GUARD)
            done_at = loop.time()
        usable = max(sim.disks.usable_at(str(job.entities.volume_id)) for job in results)
        assert done_at >= usable
    assert {job.status for job in results} == {JobStatus.SUCCESS}
    completes = [line for line in lines.lines if line[1] == "complete"]
    assert sorted(line[2] for line in completes) == sorted(jobs)  # once each, ...
    assert all(line[4] for line in completes)  # ... and ready events all
    assert a.stats.polls > 0 and b.stats.polls > 0


def test_the_mark_of_ready_mode_travels_with_the_statuses() -> None:
    known = Statuses(JobStatus.SUCCESS, {"s1": JobStatus.RUNNING})
    again = _wire.known_of(*_wire.statuses_data(known, ready=True))
    assert isinstance(again, ReadyStatuses)
    assert (again.job, again.subs) == (JobStatus.SUCCESS, {"s1": JobStatus.RUNNING})
    plain = _wire.known_of(*_wire.statuses_data(known))
    assert type(plain) is Statuses and plain.subs == again.subs
    # A sub-job that happens to carry the mark's name, with a status, is a sub-job.
    odd = _wire.known_of(b"RUNNING", orjson.dumps({_wire.READY: "RUNNING"}))
    assert type(odd) is Statuses and odd.subs == {_wire.READY: JobStatus.RUNNING}


def test_a_disk_failure_travels_to_the_other_replicas_as_itself() -> None:
    job = Job(
        job_id="j",
        status=JobStatus.SUCCESS,
        job_type=JobType.CREATE_VOLUME,
        entities=JobEntities(volume_id="v1"),
    )
    error = VolumeFailedError(job, "v1", "error")
    again = _wire.outcome_of(_wire.outcome_data(error), "j")
    assert isinstance(again, VolumeFailedError)
    assert (again.job, again.volume_id, again.volume_status) == (job, "v1", "error")
    assert str(again) == str(error)
