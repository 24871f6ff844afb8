"""Hostile answers to the watcher: every one ends in a retry or a specific error.

The watcher's half of docs/hostile-input.md: each hostile answer, repeated, ends the watch
with its own error once the error budget is spent; a refusal in disguise ends it at
once; a sane answer afterwards recovers it; a huge Retry-After slows it but never hangs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from evs_job_watch import (
    EvsApiError,
    EvsJobClient,
    EvsJobWatchError,
    Job,
    JobStatus,
    JobWatcher,
    MalformedResponseError,
    PollPolicy,
    ServerError,
    ThrottledError,
    TokenAuth,
)
from evs_job_watch.simulator import EvsSimulator, Reply

from ..scripted import ScriptedClient, make_job
from .answers import (
    BUDGET,
    DEADLINE,
    FAST,
    HTML,
    MIB,
    OTHER_JOB,
    job_json,
    padded_job,
)

# -- the watcher: every hostile answer ends in a retry or a specific error -------------------

Answer = Callable[[str], Reply]

# (answer for a job id, the error the watch ends with, the client's request timeout)
TRANSIENT: dict[str, tuple[Answer, type[EvsJobWatchError], float]] = {
    "html": (
        lambda j: Reply(status=200, body=HTML, content_type="text/html"),
        MalformedResponseError,
        10.0,
    ),
    "JSON list": (lambda j: Reply(status=200, body=b"[]"), MalformedResponseError, 10.0),
    "status a number": (
        lambda j: Reply(status=200, body=job_json(j, status=5)),
        MalformedResponseError,
        10.0,
    ),
    "sub_jobs a string": (
        lambda j: Reply(status=200, body=job_json(j, entities={"sub_jobs": "x"})),
        MalformedResponseError,
        10.0,
    ),
    "missing status": (
        lambda j: Reply(status=200, body={"job_id": j}),
        MalformedResponseError,
        10.0,
    ),
    "garbage timestamp": (
        lambda j: Reply(status=200, body=job_json(j, begin_time="yesterday")),
        MalformedResponseError,
        10.0,
    ),
    "invalid UTF-8": (
        lambda j: Reply(status=200, body=b'{"job_id": "' + j.encode() + b'", "status": "\xff"}'),
        MalformedResponseError,
        10.0,
    ),
    "deeply nested": (
        lambda j: Reply(status=200, body=b"[" * 5000 + b"]" * 5000),
        MalformedResponseError,
        10.0,
    ),
    "over the cap": (
        lambda j: Reply(status=200, body=padded_job(j, MIB + 1)),
        MalformedResponseError,
        10.0,
    ),
    "another job": (
        lambda j: Reply(status=200, body=job_json(OTHER_JOB)),
        MalformedResponseError,
        10.0,
    ),
    "4xx without an API body": (
        lambda j: Reply(status=409, body=b""),
        MalformedResponseError,
        10.0,
    ),
    "503": (lambda j: Reply(status=503), ServerError, 10.0),
    "502 html": (
        lambda j: Reply(status=502, body=HTML, content_type="text/html"),
        ServerError,
        10.0,
    ),
    # One 429 kind only: after a 429 the governor paces the watcher at 0.5 request/s, so
    # each costs 2 s; the other Retry-After values differ only in the client (see above).
    "429 negative Retry-After": (
        lambda j: Reply(status=429, headers={"Retry-After": "-5"}),
        ThrottledError,
        10.0,
    ),
    "dropped connection": (lambda j: Reply(drop=True), ServerError, 10.0),
    "over-long header": (
        lambda j: Reply(headers={"X-Padding": "x" * 20_000}),
        ServerError,
        10.0,
    ),
    "slow beyond the timeout": (lambda j: Reply(delay=3.0), ServerError, 0.2),
}


@pytest.mark.parametrize(("answer", "error_type", "timeout"), TRANSIENT.values(), ids=TRANSIENT)
async def test_a_watch_hit_by_one_hostile_answer_every_time_ends_with_its_error(
    sim: EvsSimulator, job_id: str, answer: Answer, error_type: type[Exception], timeout: float
) -> None:
    # Twice the budget: aiohttp retries a request once itself when a reused connection drops.
    sim.inject(job_id, *[answer(job_id) for _ in range(2 * BUDGET)])
    ended: list[tuple[str, BaseException]] = []
    auth = TokenAuth(sim.token)
    async with (
        EvsJobClient(sim.endpoint, sim.project_id, auth=auth, timeout=timeout) as client,
        JobWatcher(client, policy=FAST, on_error=lambda j, e: ended.append((j, e))) as watcher,
    ):
        with pytest.raises(error_type) as caught:
            await asyncio.wait_for(watcher.wait(job_id), DEADLINE)
        stats = watcher.stats
    assert type(caught.value) is error_type
    assert caught.value.job_id == job_id  # type: ignore[attr-defined]
    assert (stats.polls, stats.errors) == (BUDGET, BUDGET)
    assert ended == [(job_id, caught.value)]


FINAL: dict[str, tuple[Answer, int]] = {
    "redirect": (lambda j: Reply(status=302, body=b"", headers={"Location": "/elsewhere"}), 302),
    "200 carrying an error": (
        lambda j: Reply(status=200, body={"error": {"code": "EVS.9876", "message": "no"}}),
        200,
    ),
}


@pytest.mark.parametrize(("answer", "status"), FINAL.values(), ids=FINAL)
async def test_a_refusal_in_disguise_ends_the_watch_at_the_first_answer(
    sim: EvsSimulator, client: EvsJobClient, job_id: str, answer: Answer, status: int
) -> None:
    sim.inject(job_id, *[answer(job_id) for _ in range(BUDGET)])
    async with JobWatcher(client, policy=FAST) as watcher:
        with pytest.raises(EvsApiError) as caught:
            await asyncio.wait_for(watcher.wait(job_id), DEADLINE)
        assert watcher.stats.polls == 1
    assert type(caught.value) is EvsApiError
    assert (caught.value.status, caught.value.job_id) == (status, job_id)


async def test_a_watch_recovers_when_the_api_answers_sanely_again(
    sim: EvsSimulator, job_id: str
) -> None:
    # Every transient kind, in runs shorter than the budget, each run ended by a good answer.
    # Not the slow one (it needs a tiny timeout) nor the 429 (the governor's slow recovery
    # is tests/test_governor.py's subject).
    kinds = [
        answer
        for answer, error_type, timeout in TRANSIENT.values()
        if timeout > 1 and error_type is not ThrottledError
    ]
    pairs = list(zip(kinds[::2], [*kinds[1::2], kinds[0]]))
    replies: list[Reply] = []
    for first, second in pairs:
        replies += [first(job_id), second(job_id), Reply()]  # Reply(): the normal answer
    replies.append(Reply(status=200, body=job_json(job_id, status="SUCCESS")))
    sim.inject(job_id, *replies)
    async with (
        EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
        JobWatcher(client, policy=FAST) as watcher,
    ):
        job = await asyncio.wait_for(watcher.wait(job_id), DEADLINE)
        stats = watcher.stats
    assert isinstance(job, Job)
    assert job.status is JobStatus.SUCCESS
    # One error per hostile answer, but for the drop that aiohttp's own retry may absorb.
    assert stats.errors >= 2 * len(pairs) - 1
    assert len([r for r in sim.requests if r.fault == "injected"]) == len(replies)


@pytest.mark.virtual_clock
async def test_a_huge_retry_after_slows_the_watch_but_never_hangs_it() -> None:
    # The client clamps Retry-After to 600 s (see above); the watcher waits that out each
    # time and still ends the watch after its error budget.
    loop = asyncio.get_running_loop()
    client = ScriptedClient()
    throttled = ThrottledError("slow down", job_id="j", retry_after=600.0)
    client.script("j", throttled)
    client.script("k", throttled, throttled, make_job("k", "SUCCESS"))
    policy = PollPolicy(interval=1, max_interval=2, jitter=0, max_consecutive_errors=BUDGET)
    async with JobWatcher(client, policy=policy) as watcher:
        with pytest.raises(ThrottledError):
            await watcher.wait("j")
        assert loop.time() == pytest.approx(600.0 * (BUDGET - 1))
        assert (await watcher.wait("k")).status is JobStatus.SUCCESS
    assert all(b - a >= 600.0 for a, b in zip(client.polls("j"), client.polls("j")[1:]))
