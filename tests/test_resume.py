"""snapshot() and resume(): a restart repeats no delivered event and loses no watch."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from evs_job_watch import JobEvent, JobWatcher, LocalStore
from evs_job_watch._core import _snapshot

from .scripted import FAST, Recorder, ScriptedClient, make_job

pytestmark = pytest.mark.virtual_clock


async def written(watcher: JobWatcher) -> None:
    """Wait for the state file writer: it works in a thread, outside the virtual clock."""
    assert isinstance(watcher.store, LocalStore)
    await watcher.store.written()


def batch(status: str, s1: str, s2: str) -> object:
    return make_job("b", status, subs=[("s1", s1), ("s2", s2)])


async def test_snapshot_is_plain_versioned_json_of_delivered_state() -> None:
    client = ScriptedClient()
    client.script("b", batch("RUNNING", "SUCCESS", "RUNNING"))
    client.script("j", make_job("j", "INIT"))
    async with JobWatcher(client, policy=FAST) as watcher:
        watcher.watch("b", timeout=100)
        watcher.watch("j")
        await asyncio.sleep(0.5)
        snapshot = watcher.snapshot()
    data = json.loads(json.dumps(snapshot))
    assert (data["format"], data["version"]) == ("evs_job_watch.snapshot", 1)
    by_id = {w["job_id"]: w for w in data["watches"]}
    assert by_id["b"] == {
        "job_id": "b",
        "status": "RUNNING",
        "sub_jobs": {"s1": "SUCCESS", "s2": "RUNNING"},
        "timeout": pytest.approx(99.5),
    }
    assert by_id["j"] == {"job_id": "j", "status": "INIT", "sub_jobs": {}, "timeout": None}


async def test_resume_fires_only_what_changed_since_the_snapshot() -> None:
    first = ScriptedClient()
    first.script("b", batch("RUNNING", "SUCCESS", "RUNNING"))
    async with JobWatcher(first, policy=FAST) as watcher:
        watcher.watch("b")
        await asyncio.sleep(0.5)
        snapshot = watcher.snapshot()
    second = ScriptedClient()
    second.script("b", batch("RUNNING", "SUCCESS", "RUNNING"), batch("FAIL", "SUCCESS", "FAIL"))
    recorder = Recorder()
    async with JobWatcher(second, policy=FAST, **recorder.callbacks()) as watcher:
        [handle] = watcher.resume(snapshot)
        job = await asyncio.gather(handle, return_exceptions=True)
    assert recorder.changes() == [("s2", "RUNNING", "FAIL"), ("b", "RUNNING", "FAIL")]
    assert type(job[0]).__name__ == "JobFailedError"


async def test_a_job_that_ended_during_the_gap_fires_once_on_the_first_poll() -> None:
    snapshot = _snapshot.dump([_snapshot.SavedWatch("j", _snapshot.JobStatus("RUNNING"), {}, None)])
    client = ScriptedClient()
    client.script("j", make_job("j", "SUCCESS"))
    recorder = Recorder()
    async with JobWatcher(client, policy=FAST, **recorder.callbacks()) as watcher:
        [handle] = watcher.resume(snapshot)
        await handle
        await asyncio.sleep(5)
    assert recorder.changes() == [("j", "RUNNING", "SUCCESS")]
    assert len(client.calls) == 1


async def test_events_still_being_delivered_are_not_in_the_snapshot() -> None:
    release = asyncio.Event()

    async def slow(event: JobEvent) -> None:
        if event.status.value == "SUCCESS":
            await release.wait()

    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"), make_job("j", "SUCCESS"))
    async with JobWatcher(client, policy=FAST, on_status_change=slow) as watcher:
        handle = watcher.watch("j")
        await asyncio.sleep(3)
        # The job ended and its SUCCESS callback is still running: keep RUNNING.
        [saved] = watcher.snapshot()["watches"]
        release.set()
        await handle
        assert watcher.snapshot()["watches"] == []
    assert saved["status"] == "RUNNING"


async def test_a_deadline_keeps_its_time_left_less_the_downtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snapshot = _snapshot.dump([_snapshot.SavedWatch("j", None, {}, 50.0)])
    snapshot["taken_at"] -= 20  # taken twenty seconds of wall time ago
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"))
    loop = asyncio.get_running_loop()
    async with JobWatcher(client, policy=FAST) as watcher:
        [handle] = watcher.resume(snapshot)
        with pytest.raises(TimeoutError):
            await handle
    assert loop.time() == pytest.approx(30, abs=0.5)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(format="other"), "not an evs_job_watch snapshot"),
        (lambda s: s.update(version=99), "version 99 is not supported"),
        (lambda s: s.update(watches="x"), "watches must be a list"),
        (lambda s: s.update(taken_at="now"), "taken_at must be a number"),
        (lambda s: s["watches"].append({"job_id": "a/b"}), "watch #1 is invalid"),
        (lambda s: s["watches"].append({"job_id": "x", "status": 5}), "watch #1 is invalid"),
        (lambda s: s["watches"].append({"job_id": "x", "timeout": "1"}), "watch #1 is invalid"),
        (lambda s: s["watches"].append({"job_id": "x", "sub_jobs": []}), "watch #1 is invalid"),
    ],
)
async def test_a_broken_snapshot_is_refused_with_a_clear_error(mutate, message) -> None:  # type: ignore[no-untyped-def]
    snapshot = _snapshot.dump([_snapshot.SavedWatch("ok", None, {}, None)])
    mutate(snapshot)
    async with JobWatcher(ScriptedClient()) as watcher:
        with pytest.raises(ValueError, match=message):
            watcher.resume(snapshot)
        assert watcher.watching() == frozenset()


async def test_state_path_keeps_the_file_current_and_a_new_watcher_resumes_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "watches.json"
    client = ScriptedClient()
    client.script("a", make_job("a", "RUNNING"))
    client.script("b", make_job("b", "RUNNING"), make_job("b", "SUCCESS"))
    async with JobWatcher(client, policy=FAST, state_path=state) as watcher:
        watcher.watch("a")
        await watcher.wait("b")
        await written(watcher)
        on_disk = json.loads(state.read_text())
    assert [w["job_id"] for w in on_disk["watches"]] == ["a"]
    assert on_disk["watches"][0]["status"] == "RUNNING"
    # A clean close keeps the live watches for the next start.
    assert [w["job_id"] for w in json.loads(state.read_text())["watches"]] == ["a"]

    client.script("a", make_job("a", "SUCCESS"))
    recorder = Recorder()
    async with JobWatcher(client, policy=FAST, state_path=state, **recorder.callbacks()) as watcher:
        assert watcher.watching() == frozenset({"a"})
        await asyncio.sleep(2)
        assert watcher.watching() == frozenset()
        await written(watcher)
    assert recorder.changes() == [("a", "RUNNING", "SUCCESS")]
    assert json.loads(state.read_text())["watches"] == []


async def test_a_new_holder_that_waits_longer_is_written_to_the_state_file(
    tmp_path: Path,
) -> None:
    # The watch's deadline is the latest of its holders': a second handle that waits
    # longer changes what a snapshot keeps, so the file is written anew. Fails if only
    # the first holder cues the file (the file would keep the first, shorter deadline).
    state = tmp_path / "watches.json"
    client = ScriptedClient()
    client.script("a", make_job("a", "RUNNING"))
    async with JobWatcher(client, policy=FAST, state_path=state) as watcher:
        watcher.watch("a", timeout=5)
        await asyncio.sleep(1)  # polled: its first sight is delivered and written
        await written(watcher)
        [saved] = json.loads(state.read_text())["watches"]
        assert saved["timeout"] <= 5
        watcher.watch("a", timeout=60)
        await asyncio.sleep(0)
        await written(watcher)
        [saved] = json.loads(state.read_text())["watches"]
        assert saved["timeout"] == pytest.approx(60, abs=0.5)


async def test_a_broken_state_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "watches.json"
    state.write_text('{"format": "evs_job_watch.snapshot", "version": 1, "watc')
    with pytest.raises(ValueError, match=r"watches\.json"):
        async with JobWatcher(ScriptedClient(), state_path=state):
            pass  # pragma: no cover - never entered
    assert state.read_text().endswith('"watc')


async def test_a_failed_write_is_logged_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "watches.json"
    client = ScriptedClient()
    client.script("a", make_job("a", "RUNNING"))
    async with JobWatcher(client, policy=FAST, state_path=state) as watcher:
        watcher.watch("a")
        await asyncio.sleep(0.5)
        await written(watcher)
        before = state.read_bytes()

        def refuse(*args: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(_snapshot.os, "replace", refuse)
        watcher.watch("b")
        client.script("b", make_job("b", "INIT"))
        with caplog.at_level(logging.ERROR, logger="evs_job_watch"):
            await asyncio.sleep(0.5)
            await written(watcher)
        assert state.read_bytes() == before
        assert any("disk full" in r.getMessage() for r in caplog.records)
        assert list(tmp_path.iterdir()) == [state]  # no temporary file left behind
        monkeypatch.undo()
