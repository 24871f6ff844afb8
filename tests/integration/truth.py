"""What the integration tests share: a callback recorder and the checks against ground truth.

The simulator decides every job's timeline when the job is created, so whatever the
watcher reports can be compared with what really happened: the outcome of each job,
and the order of the statuses each job and sub-job went through.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Protocol

from evs_job_watch import Job, JobEvent, JobFailedError, JobStatus
from evs_job_watch.simulator import EvsSimulator


class JobSource(Protocol):
    """What a watcher polls (EvsJobClient, or a wrapper of it)."""

    async def get_job(self, job_id: str) -> Job: ...


class CountedSource:
    """The client as the watcher sees it, counting the polls it has under way at once.

    Counted where the watcher polls, to prove it filled every slot: the server sees fewer
    requests at once when a busy machine's client is slow to parse the answers.
    """

    def __init__(self, client: JobSource) -> None:
        self.client = client
        self.in_flight = self.most = 0

    async def get_job(self, job_id: str) -> Job:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            return await self.client.get_job(job_id)
        finally:
            self.in_flight -= 1


# Singles of each kind the API makes, and batches of 2 to 5 disks.
SINGLE_TYPES = ("createVolume", "extendVolume", "deleteVolume")


def create_mix(sim: EvsSimulator, count: int, *, batch_every: int = 4) -> list[str]:
    """Create ``count`` jobs: every ``batch_every``-th a batch of 2-5 disks, the rest singles."""
    job_ids = []
    for index in range(count):
        if index % batch_every == 0:
            job_ids.append(sim.create_job("createVolume", count=2 + index // batch_every % 4))
        else:
            job_ids.append(sim.create_job(SINGLE_TYPES[index % len(SINGLE_TYPES)]))
    return job_ids


class Recorder:
    """Collects every callback the watcher makes, by job id, and notices inconsistencies."""

    def __init__(self) -> None:
        self.seen: defaultdict[str, list[str]] = defaultdict(list)
        self.parents: defaultdict[str, set[str]] = defaultdict(set)
        self.completed: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.errors: list[tuple[str, BaseException]] = []
        self.problems: list[str] = []
        self.first_change = asyncio.Event()

    def on_status_change(self, event: JobEvent) -> None:
        seen = self.seen[event.job_id]
        previous = None if event.previous is None else event.previous.value
        if previous != (seen[-1] if seen else None):
            self.problems.append(
                f"{event.job_id}: event says previous {previous}, last reported {seen[-1:]}"
            )
        seen.append(event.status.value)
        if event.parent is not None:
            self.parents[event.job_id].add(event.parent.job_id)
        self.first_change.set()

    def on_complete(self, event: JobEvent) -> None:
        if event.status is not JobStatus.SUCCESS:
            self.problems.append(f"{event.job_id}: on_complete with {event.status.value}")
        self.completed[event.job_id] += 1

    async def on_fail(self, event: JobEvent) -> None:
        # A coroutine on purpose: the watcher must keep order across awaiting callbacks.
        await asyncio.sleep(0)
        if event.status is not JobStatus.FAIL:
            self.problems.append(f"{event.job_id}: on_fail with {event.status.value}")
        self.failed[event.job_id] += 1

    def on_error(self, job_id: str, error: BaseException) -> None:
        self.errors.append((job_id, error))

    def callbacks(self) -> dict[str, object]:
        return {
            "on_status_change": self.on_status_change,
            "on_complete": self.on_complete,
            "on_fail": self.on_fail,
            "on_error": self.on_error,
        }


def is_subsequence(seen: Sequence[str], truth: Sequence[str]) -> bool:
    remaining = iter(truth)
    return all(status in remaining for status in seen)


def _check_statuses(problems: list[str], what: str, seen: list[str], truth: list[str]) -> None:
    if not seen:
        problems.append(f"{what}: no status reported, truth {truth}")
    elif len(set(seen)) != len(seen) or not is_subsequence(seen, truth):
        problems.append(f"{what}: reported {seen}, not an ordered subsequence of {truth}")
    elif seen[-1] != truth[-1]:
        problems.append(f"{what}: last reported {seen[-1]}, truth ends {truth[-1]}")


def _check_terminal_events(
    problems: list[str], what: str, job_id: str, outcome: str, recorder: Recorder
) -> None:
    expected = (1, 0) if outcome == "SUCCESS" else (0, 1)
    got = (recorder.completed[job_id], recorder.failed[job_id])
    if got != expected:
        problems.append(f"{what}: on_complete/on_fail fired {got} times, outcome {outcome}")


def result_matches(job_id: str, outcome: str, result: object) -> bool:
    """Whether a waiter's result is the true outcome: a Job on SUCCESS, JobFailedError on FAIL."""
    if outcome == "SUCCESS":
        return (
            isinstance(result, Job)
            and result.job_id == job_id
            and result.status is JobStatus.SUCCESS
        )
    return (
        isinstance(result, JobFailedError)
        and result.job.job_id == job_id
        and result.job.status is JobStatus.FAIL
    )


def _check_result(problems: list[str], job_id: str, outcome: str, result: object) -> None:
    if not result_matches(job_id, outcome, result):
        problems.append(f"job {job_id}: waited for {result!r}, truth {outcome}")


def _check_cut_short(
    problems: list[str], what: str, job_id: str, sim: EvsSimulator, recorder: Recorder
) -> None:
    """A job whose watch was closed early: what was reported must still be true."""
    seen, truth = recorder.seen.get(job_id, []), sim.statuses(job_id)
    if len(set(seen)) != len(seen) or not is_subsequence(seen, truth):
        problems.append(f"{what}: reported {seen}, not an ordered subsequence of {truth}")
    ended = seen[-1:] == [truth[-1]] and truth[-1] in ("SUCCESS", "FAIL")
    expected = (0, 0) if not ended else (1, 0) if truth[-1] == "SUCCESS" else (0, 1)
    got = (recorder.completed[job_id], recorder.failed[job_id])
    if got != expected:
        problems.append(f"{what}: on_complete/on_fail fired {got} times after {seen}")


def truth_problems(
    sim: EvsSimulator,
    job_ids: Iterable[str],
    results: Sequence[object],
    recorder: Recorder,
    *,
    closed_early: Iterable[str] = (),
) -> list[str]:
    """Every way the watcher's report of these jobs differs from the simulator's truth.

    ``closed_early`` are jobs whose watch the watcher's close cut short: for them only
    what was reported is checked, and the result (not in ``results``) is not.
    """
    problems = list(recorder.problems)
    problems.extend(f"on_error({job_id}, {error!r})" for job_id, error in recorder.errors)
    known: set[str] = set()
    for job_id in closed_early:
        known.add(job_id)
        _check_cut_short(problems, f"closed job {job_id}", job_id, sim, recorder)
        for sub_id in sim.sub_job_ids(job_id):
            known.add(sub_id)
            _check_cut_short(problems, f"closed sub-job {sub_id}", sub_id, sim, recorder)
    job_ids = list(job_ids)
    if len(results) != len(job_ids):
        problems.append(f"{len(results)} results for {len(job_ids)} jobs")
    for job_id, result in zip(job_ids, results):
        outcome = sim.outcome(job_id)
        known.add(job_id)
        _check_result(problems, job_id, outcome, result)
        _check_statuses(
            problems, f"job {job_id}", recorder.seen.get(job_id, []), sim.statuses(job_id)
        )
        _check_terminal_events(problems, f"job {job_id}", job_id, outcome, recorder)
        if recorder.parents.get(job_id):
            problems.append(f"job {job_id}: reported as a sub-job of {recorder.parents[job_id]}")
        for sub_id in sim.sub_job_ids(job_id):
            known.add(sub_id)
            what = f"sub-job {sub_id} of {job_id}"
            _check_statuses(problems, what, recorder.seen.get(sub_id, []), sim.statuses(sub_id))
            _check_terminal_events(problems, what, sub_id, sim.outcome(sub_id), recorder)
            if recorder.parents.get(sub_id) != {job_id}:
                problems.append(f"{what}: reported with parents {recorder.parents.get(sub_id)}")
    strangers = set(recorder.seen) - known
    if strangers:
        problems.append(f"events for jobs never watched: {sorted(strangers)[:5]}")
    return problems


def assert_matches_truth(
    sim: EvsSimulator,
    job_ids: Sequence[str],
    results: Sequence[object],
    recorder: Recorder,
    *,
    closed_early: Iterable[str] = (),
) -> None:
    problems = truth_problems(sim, job_ids, results, recorder, closed_early=closed_early)
    assert not problems, f"{len(problems)} differences from ground truth:\n" + "\n".join(
        problems[:25]
    )


def fault_count(sim: EvsSimulator, fault: str) -> int:
    """How many job queries the simulator answered with this fault."""
    return sum(1 for record in sim.requests if record.fault == fault)
