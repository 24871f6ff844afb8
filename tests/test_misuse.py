"""Misuse gets an error at the call that is wrong, naming what was wrong: never a silent
hang, a lost state file, or a background task that dies later."""

from __future__ import annotations

from pathlib import Path

import pytest

from evs_job_watch import JobWatcher, LocalStore
from evs_job_watch.redis import RedisStore

from .test_state_file import StaticJobs


async def test_resume_with_a_state_file_is_refused_at_the_call(tmp_path: Path) -> None:
    # The state file would be neither read nor written: a restart would lose every watch.
    path = tmp_path / "state.json"
    async with JobWatcher(StaticJobs()) as first:
        first.watch("a")
        snapshot = first.snapshot()
    with pytest.raises(ValueError, match=r"resume.*state_path"):
        JobWatcher(StaticJobs(), resume=snapshot, state_path=path)
    with pytest.raises(ValueError, match=r"resume.*state_path"):
        JobWatcher(StaticJobs(), resume=snapshot, store=LocalStore(path))
    assert not path.exists()


async def test_a_state_file_in_a_missing_directory_is_refused_at_the_call(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-dir" / "state.json"
    with pytest.raises(ValueError, match=r"state_path .*no-such-dir.* does not exist"):
        JobWatcher(StaticJobs(), state_path=missing)
    with pytest.raises(ValueError, match=r"path .*no-such-dir.* does not exist"):
        LocalStore(missing)
    with pytest.raises(ValueError, match=r"state_path .* is a directory"):
        JobWatcher(StaticJobs(), state_path=tmp_path)


@pytest.mark.parametrize("kind", ["state file", "shared store"])
async def test_watching_before_async_with_is_refused_when_the_store_must_open(
    tmp_path: Path, kind: str
) -> None:
    source = StaticJobs()
    if kind == "shared store":
        watcher = JobWatcher(source, store=RedisStore("redis://127.0.0.1:1"))
    else:
        watcher = JobWatcher(source, state_path=tmp_path / "state.json")
    with pytest.raises(RuntimeError, match=r"async with"):
        watcher.watch("a")
    with pytest.raises(RuntimeError, match=r"async with"):
        await watcher.wait("a")
    with pytest.raises(RuntimeError, match=r"async with"):
        await watcher.wait_all(["a"])
    assert watcher.watching() == frozenset()
    await watcher.aclose()
    assert source.polls == 0


async def test_a_watcher_in_memory_still_works_without_async_with() -> None:
    source = StaticJobs()
    watcher = JobWatcher(source)
    handle = watcher.watch("a")
    assert watcher.watching() == {"a"}
    handle.cancel()
    await watcher.aclose()
