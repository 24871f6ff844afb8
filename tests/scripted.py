"""Shared helpers of the watcher tests: a scripted JobSource on the loop's clock, a fast
policy, and a recorder of callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from evs_job_watch import (
    Job,
    JobEntities,
    JobEvent,
    JobNotFoundError,
    JobStatus,
    JobType,
    PollPolicy,
)
from evs_job_watch._wire._codec import Answer, answer_from, decode_job

Step = Job | BaseException

# One poll a second, no jitter: the watcher tests' schedule on the virtual clock.
FAST = PollPolicy(interval=1, max_interval=1, jitter=0)


class Recorder:
    """Collects every callback as (callback, job id, status, previous, parent id)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str | None, str | None]] = []

    def record(self, name: str, event: JobEvent) -> None:
        previous = None if event.previous is None else event.previous.value
        parent = None if event.parent is None else event.parent.job_id
        self.calls.append((name, event.job_id, event.status.value, previous, parent))

    def callbacks(self) -> dict[str, object]:
        return {
            "on_status_change": lambda e: self.record("change", e),
            "on_complete": lambda e: self.record("complete", e),
            "on_fail": lambda e: self.record("fail", e),
        }

    def changes(self) -> list[tuple[str, str | None, str]]:
        """The status changes seen, as (job id, previous status, status)."""
        return [
            (job, before, status) for name, job, status, before, _ in self.calls if name == "change"
        ]


def make_job(
    job_id: str, status: str, *, subs: Sequence[tuple[str, str]] = (), job_type: str | None = None
) -> Job:
    """A Job with the given status and (sub-job id, status) pairs."""
    sub_jobs = tuple(
        Job(job_id=sid, status=JobStatus(st), job_type=JobType.CREATE_VOLUME) for sid, st in subs
    )
    kind = job_type or ("batchCreateVolume" if subs else "createVolume")
    failed = status == "FAIL"
    return Job(
        job_id=job_id,
        status=JobStatus(status),
        job_type=JobType(kind),
        error_code="EVS.2024" if failed else None,
        fail_reason="volume creation failed" if failed else None,
        entities=JobEntities(sub_jobs=sub_jobs),
    )


class ScriptedClient:
    """Each job answers from a script: one step per poll, or a timeline on the loop clock.

    Attributes:
        calls: (job_id, loop time) of every request, in order.
        max_in_flight: the most requests that were in flight at once.
    """

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.calls: list[tuple[str, float]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._steps: dict[str, list[Step]] = {}
        self._timelines: dict[str, list[tuple[float, Step]]] = {}

    def script(self, job_id: str, *steps: Step) -> None:
        """Answer the polls of ``job_id`` with ``steps`` in turn; the last one repeats."""
        self._steps[job_id] = list(steps)

    def timeline(self, job_id: str, *points: tuple[float, Step]) -> None:
        """Answer with the step whose loop time is the latest not after the poll."""
        self._timelines[job_id] = sorted(points, key=lambda point: point[0])

    def polls(self, job_id: str) -> list[float]:
        return [at for jid, at in self.calls if jid == job_id]

    async def get_job(self, job_id: str) -> Job:
        loop = asyncio.get_running_loop()
        self.calls.append((job_id, loop.time()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            step = self._step(job_id, loop.time())
        finally:
            self.in_flight -= 1
        if isinstance(step, BaseException):
            raise step
        return step

    def _step(self, job_id: str, now: float) -> Step:
        if job_id in self._steps:
            steps = self._steps[job_id]
            return steps.pop(0) if len(steps) > 1 else steps[0]
        points = self._timelines.get(job_id)
        if not points or now < points[0][0]:
            return JobNotFoundError("No jobs found.", status=400, code="Common.0011", job_id=job_id)
        return [step for at, step in points if at <= now][-1]


def job_body(
    job_id: str,
    status: str,
    *,
    subs: Sequence[tuple[str, str]] = (),
    job_type: str = "createVolume",
    begin_time: str = "2024-03-14T10:00:00.000Z",
    end_time: str = "",
) -> bytes:
    """A job query's response body, as the API sends it; the same arguments, the same bytes."""

    def one(jid: str, st: str, kind: str, entities: dict[str, object]) -> dict[str, object]:
        return {
            "status": st,
            "entities": entities,
            "job_id": jid,
            "job_type": kind,
            "begin_time": begin_time,
            "end_time": end_time,
            "error_code": "EVS.2024" if st == "FAIL" else None,
            "fail_reason": "volume creation failed" if st == "FAIL" else None,
        }

    if subs:
        sub_jobs = [one(sid, st, "createVolume", {"size": 10}) for sid, st in subs]
        return orjson.dumps(one(job_id, status, "batchCreateVolume", {"sub_jobs": sub_jobs}))
    return orjson.dumps(one(job_id, status, job_type, {"size": 10, "volume_type": "SSD"}))


class ScriptedBodies:
    """Each job answers response bodies from a script (one per poll) or a timeline on the
    loop clock, told apart the way ``EvsJobClient.poll_job`` tells them: through the
    library's ``answer_from``, so a body identical to the last one is not decoded again.

    Attributes:
        calls: (job_id, loop time) of every request, in order.
        decoded: how many bodies were decoded.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.decoded = 0
        self._steps: dict[str, list[bytes | BaseException]] = {}
        self._timelines: dict[str, list[tuple[float, bytes | BaseException]]] = {}

    def script(self, job_id: str, *steps: bytes | BaseException) -> None:
        """Answer the polls of ``job_id`` with ``steps`` in turn; the last one repeats."""
        self._steps[job_id] = list(steps)

    def timeline(self, job_id: str, *points: tuple[float, bytes | BaseException]) -> None:
        """Answer with the step whose loop time is the latest not after the poll."""
        self._timelines[job_id] = sorted(points, key=lambda point: point[0])

    def polls(self, job_id: str) -> list[float]:
        return [at for jid, at in self.calls if jid == job_id]

    async def get_job(self, job_id: str) -> Job:
        return (await self.poll_job(job_id, None)).job

    async def poll_job(self, job_id: str, last: Answer | None) -> Answer:
        now = asyncio.get_running_loop().time()
        self.calls.append((job_id, now))
        if job_id in self._steps:
            steps = self._steps[job_id]
            step = steps.pop(0) if len(steps) > 1 else steps[0]
        else:
            step = [step for at, step in self._timelines[job_id] if at <= now][-1]
        if isinstance(step, BaseException):
            raise step
        return answer_from(step, job_id, last, self._decode)

    def _decode(self, body: bytes, job_id: str) -> Job:
        self.decoded += 1
        return decode_job(body, job_id)
