"""Hints: the disks of running jobs, read in the shared listings, bring a poll forward;
they never end a job, and a wrong or missing one costs at most the normal schedule."""

from __future__ import annotations

import asyncio

import pytest

from evs_job_watch import JobStatus, JobWatcher, PollPolicy, Volume

from .scripted import ScriptedClient
from .test_ready import DiskClient, _job

# Polls at 0, 1, 3, 7, 15 s for a job that does not change: the schedule without hints.
SLOW = PollPolicy(interval=1, max_interval=30, multiplier=2, jitter=0, latency=None)


def _running_then_done(client: DiskClient, job_id: str, volume_id: str, end: float) -> None:
    client.timeline(
        job_id, (0, _job(job_id, "RUNNING", volume_id)), (end, _job(job_id, "SUCCESS", volume_id))
    )


async def _watch(client: DiskClient, hints: bool, *job_ids: str) -> dict[str, float]:
    """Each job watched to its end: the loop time its end was told."""
    loop = asyncio.get_running_loop()
    told: dict[str, float] = {}
    async with JobWatcher(client, policy=SLOW, hints=hints) as watcher:
        handles = [watcher.watch(job_id) for job_id in job_ids]
        for handle in handles:
            handle.add_done_callback(lambda h: told.setdefault(h.job_id, loop.time()))
        jobs = await asyncio.gather(*handles)
    assert {job.status for job in jobs} == {JobStatus.SUCCESS}  # the outcome, always
    return told


def _disk_at(client: DiskClient, volume_id: str, *steps: tuple[float, str]) -> None:
    loop = asyncio.get_running_loop()
    for at, status in steps:
        disk = Volume(volume_id, status)
        loop.call_at(loop.time() + at, client.disks.__setitem__, volume_id, disk)


@pytest.mark.virtual_clock
@pytest.mark.parametrize("hints", [False, True])
async def test_a_hint_brings_the_poll_forward(hints: bool) -> None:
    client = DiskClient()
    _running_then_done(client, "j", "v1", 9.5)
    _running_then_done(client, "k", "v2", 9.5)  # its disk stays creating: no hint
    _disk_at(client, "v1", (0, "creating"), (9.5, "available"))
    _disk_at(client, "v2", (0, "creating"))
    told = await _watch(client, hints, "j", "k")
    assert client.polls("k") == [0, 1, 3, 7, 15]  # its schedule, untouched
    assert told["k"] == 15
    if hints:
        # The listing round at 10 s saw v1 available: j polled then, not at 15.
        assert client.polls("j") == [0, 1, 3, 7, 10]
        assert told["j"] == 10
        assert [ids for _, ids in client.listings][:1] == [["v1", "v2"]]  # one listing
    else:
        assert client.polls("j") == [0, 1, 3, 7, 15]
        assert client.listings == []


@pytest.mark.virtual_clock
async def test_a_wrong_hint_costs_one_poll_and_never_ends_the_job() -> None:
    client = DiskClient()
    _running_then_done(client, "j", "v1", 9.5)
    _disk_at(client, "v1", (0, "creating"), (4.5, "available"))  # long before the job ends
    told = await _watch(client, True, "j")
    # The hint at 5 s moved one poll (the job still RUNNING, so nothing ended); the
    # schedule went on from there, its delays as they would have been.
    assert client.polls("j") == [0, 1, 3, 5, 13]
    assert told["j"] == 13 <= 15  # no later than without hints
    assert len(client.polls("j")) == 5  # and no more polls


@pytest.mark.virtual_clock
@pytest.mark.parametrize("disk", [None, "available"])
async def test_a_missing_hint_leaves_the_normal_schedule(disk: str | None) -> None:
    client = DiskClient()
    _running_then_done(client, "j", "v1", 9.5)
    if disk is not None:  # never seen at work: leaving work cannot be seen either
        _disk_at(client, "v1", (0, disk))
    told = await _watch(client, True, "j")
    assert client.polls("j") == [0, 1, 3, 7, 15]
    assert told["j"] == 15
    assert client.listings  # read, to no avail


async def test_hints_need_a_client_that_reads_disks() -> None:
    with pytest.raises(TypeError, match="list_volumes"):
        JobWatcher(ScriptedClient(), hints=True)
