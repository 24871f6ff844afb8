"""The state file on its own: an unusable file stops ``async with`` with a ValueError and
is never overwritten; a failed write is logged and leaves the old file whole; ``aclose``
returns while events keep coming, and no write lands after it returned.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from evs_job_watch import (
    Job,
    JobEvent,
    JobStatus,
    JobWatcher,
    PollPolicy,
)
from evs_job_watch._core import _snapshot

from .resume_child import POLICY
from .statefiles import GUARD, saved_watches, until


class StaticJobs:
    """A job source that says every job is RUNNING, for tests of the state file alone."""

    def __init__(self) -> None:
        self.polls = 0

    async def get_job(self, job_id: str) -> Job:
        self.polls += 1
        return Job(job_id=job_id, status=JobStatus.RUNNING)


VALID_STATE = json.dumps(
    {
        "format": "evs_job_watch.snapshot",
        "version": 1,
        "taken_at": 1_700_000_000.0,
        "watches": [
            {"job_id": "job-a", "status": "RUNNING", "sub_jobs": {}, "timeout": None},
            {"job_id": "job-b", "status": None, "sub_jobs": {"sub-1": "INIT"}, "timeout": 30.0},
        ],
    }
).encode()


NEWER_STATE = VALID_STATE.replace(b'"version": 1', b'"version": 2')
UNUSABLE = {
    "half": VALID_STATE[: len(VALID_STATE) // 2],
    "last-byte-missing": VALID_STATE[:-1],
    "empty": b"",
    "zeros": b"\x00" * 64,  # what some file systems leave after a power cut
    "watch-without-id": VALID_STATE.replace(b'"job_id": "job-a", ', b""),
    "newer-version": NEWER_STATE,  # whole, but written by a later release
}


@pytest.mark.parametrize("contents", UNUSABLE.values(), ids=UNUSABLE.keys())
async def test_unusable_state_file_raises_valueerror_and_is_left_untouched(
    tmp_path: Path, contents: bytes
) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(contents)
    jobs = StaticJobs()
    with pytest.raises(ValueError) as raised:
        async with JobWatcher(jobs, policy=POLICY, state_path=state):
            pytest.fail("a watcher started from an unusable state file")
    assert str(state) in str(raised.value)
    await asyncio.sleep(0.05)  # nothing was left running to poll or write later
    assert jobs.polls == 0
    assert state.read_bytes() == contents
    assert list(tmp_path.iterdir()) == [state]


@pytest.mark.parametrize("damage", ["half", "newer-version"])
async def test_watcher_refused_by_its_state_file_does_not_overwrite_it_on_aclose(
    tmp_path: Path, damage: str
) -> None:
    # Closing the watcher after the refused start (an application's shutdown hook, a
    # `finally`) must not replace the file (the evidence, or a newer release's whole
    # snapshot) with an empty one that the next start would resume from, losing every watch.
    state = tmp_path / "state.json"
    state.write_bytes(UNUSABLE[damage])
    watcher = JobWatcher(StaticJobs(), policy=POLICY, state_path=state)
    with pytest.raises(ValueError):
        async with watcher:
            pytest.fail("a watcher started from an unusable state file")
    await watcher.aclose()
    assert state.read_bytes() == UNUSABLE[damage]


async def test_failed_state_write_logs_error_and_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state.json"
    real_replace = os.replace

    def refuse(source: Any, target: Any, **kwargs: Any) -> None:
        if Path(target) == state:
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        real_replace(source, target, **kwargs)

    def kept() -> set[str]:
        if not state.exists():
            return set()
        return {watch["job_id"] for watch in json.loads(state.read_bytes())["watches"]}

    def status_of(job_id: str) -> str | None:
        if not state.exists():
            return None
        found = [w for w in json.loads(state.read_bytes())["watches"] if w["job_id"] == job_id]
        return found[0]["status"] if found else None

    def errors() -> list[logging.LogRecord]:
        return [
            r for r in caplog.records if r.name == "evs_job_watch" and r.levelno >= logging.ERROR
        ]

    caplog.set_level(logging.ERROR, logger="evs_job_watch")
    async with JobWatcher(StaticJobs(), policy=POLICY, state_path=state) as watcher:
        watcher.watch("job-a")
        await until(lambda: status_of("job-a") == "RUNNING", "the first event is saved")
        previous = state.read_bytes()

        monkeypatch.setattr(_snapshot.os, "replace", refuse)
        watcher.watch("job-b")
        await until(lambda: bool(errors()), "the failed write is logged")
        await asyncio.sleep(0.1)  # job-b's first event: another change, another failure
        assert state.read_bytes() == previous
        assert list(tmp_path.iterdir()) == [state]  # the temporary file is gone too
        record = errors()[0]
        assert record.levelno == logging.ERROR
        assert str(state) in record.getMessage()
        assert "Permission denied" in record.getMessage()

        # Writable again: the next change writes everything, what was missed included.
        monkeypatch.undo()
        watcher.watch("job-c")
        await until(lambda: kept() == {"job-a", "job-b", "job-c"}, "the state is written again")
        assert status_of("job-b") == "RUNNING"
    assert kept() == {"job-a", "job-b", "job-c"}  # aclose saved the live watches
    assert list(tmp_path.iterdir()) == [state]


# -- aclose and the state file ------------------------------------------------------


class BusyJobs:
    """A job source whose every job shows a new status at each poll, unless ``calm``."""

    def __init__(self) -> None:
        self.step = 0
        self.calm = False

    async def get_job(self, job_id: str) -> Job:
        if not self.calm:
            self.step += 1
        return Job(job_id=job_id, status=JobStatus(f"STEP_{self.step}"))


def slow_writes(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make each state file write take ``seconds`` (a large watch set on a real disk)."""
    write_atomic = _snapshot.write_atomic

    def slow(path: Path, data: bytes) -> None:
        time.sleep(seconds)  # in the executor thread, as a slow fsync would be
        write_atomic(path, data)

    monkeypatch.setattr(_snapshot, "write_atomic", slow)


async def test_aclose_returns_while_events_keep_coming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    slow_writes(monkeypatch, 0.05)
    jobs = BusyJobs()
    policy = PollPolicy(interval=0.01, max_interval=0.01, jitter=0.0)
    async with JobWatcher(jobs, policy=policy, state_path=state) as watcher:
        for n in range(5):
            watcher.watch(f"job-{n}")
        await until(lambda: jobs.step > 50, "events flow")
        closing = asyncio.ensure_future(watcher.aclose())
        done, _ = await asyncio.wait({closing}, timeout=2.0)
        jobs.calm = True  # whatever happened, let the test finish
        await asyncio.wait_for(closing, GUARD)
        assert closing in done, "aclose did not return within 2 s while events kept coming"
    assert set(saved_watches(state)) == {f"job-{n}" for n in range(5)}


async def test_no_state_write_lands_after_aclose_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aclose saves the watches first; a write still under way when it returns could
    # land after the caller moved on (or a new watcher started on the same file).
    state = tmp_path / "state.json"
    jobs = BusyJobs()
    jobs.calm = True
    slow_callback_started = asyncio.Event()

    async def on_status_change(event: JobEvent) -> None:
        if event.status.value != "STEP_0":
            slow_callback_started.set()
            await asyncio.sleep(0.1)  # its event is delivered while aclose writes

    async with JobWatcher(
        jobs, policy=POLICY, state_path=state, on_status_change=on_status_change
    ) as watcher:
        watcher.watch("job-a")
        await until(
            lambda: saved_watches(state).get("job-a", {}).get("status") == "STEP_0", "saved"
        )
        await asyncio.sleep(0.1)  # no write under way any more
        jobs.step = 1  # the next poll sees a new status
        await asyncio.wait_for(slow_callback_started.wait(), GUARD)
        slow_writes(monkeypatch, 0.2)
        await watcher.aclose()
        at_return = state.read_bytes()
    await asyncio.sleep(0.4)  # longer than any write under way at the return
    later = state.read_bytes()
    assert later == at_return, f"written after aclose returned:\n{at_return!r}\n{later!r}"
