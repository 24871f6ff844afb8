"""A watcher killed with SIGKILL resumes from its ``state_path`` and loses nothing.

The first watcher runs in a child process (``resume_child.py``) against an
`EvsSimulator` served from this test's event loop, printing one JSON line per callback.
At a point drawn from the test's seed the child is killed outright; the state file is
read as the kill left it; after a gap a second watcher starts in-process with the same
``state_path`` and runs until every resumed watch ends. What both runs reported is then
judged against the simulator's ground truth and the file left by the kill:

* every job's and sub-job's terminal event (and its on_complete / on_fail) is delivered;
* an event is delivered twice only if the killed run delivered it and the state file
  did not show it yet (it still showed an earlier status);
* no event names a status the job never had, and a run's events follow the job's order;
* the file shows only delivered events, and a watch is missing from it only if all its
  terminal events were delivered before the kill (no watch is lost);
* a job or sub-job that ended while nothing was watching fires its terminal event once,
  straight from the status the file kept.

Jobs run on scripted timelines in real seconds (``speed=1.0``), ending 0.9-3.6 s after
creation, so, depending on the kill point, some end before the kill, some during the
gap and some after the restart. The assertions hold for any kill point.

Where a kill lands is chance, so the last test pins the first promise down in-process: a
callback holding an event keeps its watch in the file as before it. The state file's
own promises are in ``test_state_file.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from evs_job_watch import (
    EvsJobClient,
    JobEvent,
    JobStatus,
    JobWatcher,
    TokenAuth,
)
from evs_job_watch._core import _snapshot
from evs_job_watch.simulator import EvsSimulator

from .resume_child import POLICY
from .statefiles import GUARD, saved_watches, until

CHILD = Path(__file__).with_name("resume_child.py")
TERMINAL = {"SUCCESS": "complete", "FAIL": "fail"}  # terminal status -> its own callback
FAIL_INFO = ("EVS.2024", "create volume failed: No valid host was found.")


class Line(NamedTuple):
    """One callback as a run reported it."""

    kind: str  # "change", "complete" or "fail"
    job_id: str
    parent: str | None
    status: str
    previous: str | None


# -- the scenario -------------------------------------------------------------------


def create_jobs(sim: EvsSimulator) -> list[str]:
    """Singles and batches, some failing, ending 0.9-3.6 s from now (offsets in seconds)."""
    i, r, s, f = "INIT", "RUNNING", "SUCCESS", "FAIL"
    return [
        sim.add_job(timeline=[(0, i), (0.5, r), (0.9, s)]),
        sim.add_job(timeline=[(0, i), (0.6, r), (1.3, f)], fail=FAIL_INFO),
        sim.add_job("extendVolume", timeline=[(0, i), (0.8, r), (2.4, s)]),
        sim.add_job(timeline=[(0, i), (1.0, r), (2.0, s)]),
        sim.add_job("deleteVolume", timeline=[(0, i), (1.7, f)], fail=FAIL_INFO),
        sim.add_job(timeline=[(0, i), (1.5, r), (3.0, s)]),
        sim.add_job(timeline=[(0, i), (2.5, r), (3.6, f)], fail=FAIL_INFO),
        # Batches: the parent follows its sub-jobs unless given a timeline of its own.
        sim.add_job(sub_jobs=[[(0, i), (0.5, r), (1.1, s)], [(0, i), (0.7, r), (1.6, s)]]),
        sim.add_job(
            sub_jobs=[
                [(0, i), (0.9, r), (2.2, f)],
                [(0, i), (1.2, r), (2.8, s)],
                [(0, i), (1.4, r), (3.3, s)],
            ],
            fail=FAIL_INFO,
        ),
        sim.add_job(
            timeline=[(0, i), (0.6, r), (3.5, s)],
            sub_jobs=[[(0, i), (0.6, r), (1.9, s)], [(0, i), (1.0, r), (3.1, s)]],
        ),
        sim.add_job(sub_jobs=[[(0, i), (0.8, f)], [(0, i), (1.0, r), (2.6, f)]], fail=FAIL_INFO),
    ]


# -- the two runs -------------------------------------------------------------------


def parse_line(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw)
    assert isinstance(data, dict), raw
    return data


def as_line(data: Mapping[str, Any]) -> Line:
    return Line(data["kind"], data["job_id"], data["parent"], data["status"], data["previous"])


async def start_child(sim: EvsSimulator, state: Path, stderr: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "EVS_TOKEN": sim.token}
    with stderr.open("wb") as errors:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            str(CHILD),
            sim.endpoint,
            sim.project_id,
            str(state),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
            env=env,
        )


async def read_line(child: asyncio.subprocess.Process, stderr: Path, why: str) -> dict[str, Any]:
    """The child's next line; the test fails if the child exits first."""
    assert child.stdout is not None
    raw = await asyncio.wait_for(child.stdout.readline(), GUARD)
    if not raw:
        await asyncio.wait_for(child.wait(), GUARD)
        pytest.fail(f"the child exited {why}:\n{stderr.read_text()}")
    return parse_line(raw)


async def run_until_killed(
    child: asyncio.subprocess.Process, after_lines: int, after_seconds: float, stderr: Path
) -> list[Line]:
    """Collect events; kill the child (SIGKILL) once ``after_lines`` events were read or
    ``after_seconds`` passed since it was ready, whichever comes first (but not before it
    is ready). Every line it printed is returned, those still in the pipe included."""
    assert child.stdout is not None
    lines: list[Line] = []
    # The first polls may deliver events before the child says it is ready.
    while (data := await read_line(child, stderr, "before it was ready")) != {"kind": "ready"}:
        lines.append(as_line(data))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + after_seconds
    while len(lines) < after_lines:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            data = await asyncio.wait_for(read_line(child, stderr, "before the kill"), remaining)
        except asyncio.TimeoutError:
            break
        lines.append(as_line(data))
    child.kill()
    await asyncio.wait_for(child.wait(), GUARD)
    # A line is one write of less than PIPE_BUF bytes, so it is in the pipe whole or not
    # at all; anything after the last newline would be a callback cut short, not a line.
    rest = await asyncio.wait_for(child.stdout.read(), GUARD)
    lines.extend(as_line(parse_line(raw)) for raw in rest.split(b"\n")[:-1])
    return lines


class Collector:
    """The in-process watcher's callbacks, recorded as the child prints them."""

    def __init__(self) -> None:
        self.lines: list[Line] = []

    def _reporter(self, kind: str) -> Callable[[JobEvent], None]:
        def report(event: JobEvent) -> None:
            parent = None if event.parent is None else event.parent.job_id
            previous = None if event.previous is None else event.previous.value
            self.lines.append(Line(kind, event.job_id, parent, event.status.value, previous))

        return report

    def callbacks(self) -> dict[str, Callable[[JobEvent], None]]:
        return {
            "on_status_change": self._reporter("change"),
            "on_complete": self._reporter("complete"),
            "on_fail": self._reporter("fail"),
        }


# -- judging ------------------------------------------------------------------------


class Truth:
    """The simulator's ground truth for the watched jobs and their sub-jobs."""

    def __init__(self, sim: EvsSimulator, tops: Iterable[str]) -> None:
        self.parent: dict[str, str | None] = {}
        self.subs: dict[str, list[str]] = {}
        for top in tops:
            self.parent[top] = None
            self.subs[top] = sim.sub_job_ids(top)
            for sub in self.subs[top]:
                self.parent[sub] = top
        self.statuses = {job: sim.statuses(job) for job in self.parent}
        self.outcome = {job: sim.outcome(job) for job in self.parent}
        self.ended_at = {job: sim.ended_at(job) for job in self.parent}

    def family(self, top: str) -> list[str]:
        return [top, *self.subs[top]]

    def index(self, job: str, status: str | None) -> int:
        return -1 if status is None else self.statuses[job].index(status)


def saved_status(saved: Mapping[str, Mapping[str, Any]], truth: Truth, job: str) -> str | None:
    """The status the state file kept for a job or sub-job whose watch it holds."""
    parent = truth.parent[job]
    if parent is None:
        status = saved[job]["status"]
        return None if status is None else str(status)
    status = saved[parent]["sub_jobs"].get(job)
    return None if status is None else str(status)


def check_run(
    name: str, lines: list[Line], truth: Truth, first_previous: Callable[[str], str | None]
) -> list[str]:
    """What is wrong with one run's lines on their own."""
    problems = []
    for key, count in Counter(lines).items():
        if count > 1:
            problems.append(f"{name}: {key} delivered {count} times in one run")
    for (kind, job), count in sorted(Counter((ln.kind, ln.job_id) for ln in lines).items()):
        if kind != "change" and count > 1:
            problems.append(f"{name}: {job} got on_{kind} {count} times in one run")
    changes: defaultdict[str, list[Line]] = defaultdict(list)
    for line in lines:
        job = line.job_id
        if job not in truth.parent:
            problems.append(f"{name}: event for a job nobody watched: {line}")
            continue
        if line.parent != truth.parent[job]:
            problems.append(f"{name}: wrong parent, expected {truth.parent[job]}: {line}")
        if line.status not in truth.statuses[job]:
            problems.append(f"{name}: a status {job} never had ({truth.statuses[job]}): {line}")
            continue
        if line.kind != "change" and TERMINAL.get(line.status) != line.kind:
            problems.append(f"{name}: on_{line.kind} for status {line.status}: {line}")
        if line.kind == "change":
            changes[job].append(line)
    for job, seen in changes.items():
        expected_previous = first_previous(job)
        for line in seen:
            if line.previous != expected_previous:
                problems.append(f"{name}: previous should be {expected_previous}: {line}")
            if truth.index(job, line.status) <= truth.index(job, expected_previous):
                problems.append(f"{name}: out of order after {expected_previous}: {line}")
            expected_previous = line.status
    return problems


def delivered(lines: Iterable[Line]) -> set[tuple[str, str, str]]:
    return {(line.job_id, line.status, line.kind) for line in lines}


def fully_delivered(events: set[tuple[str, str, str]], job: str, status: str) -> bool:
    """Whether the event and its on_complete/on_fail were all delivered."""
    kinds = ["change", *([TERMINAL[status]] if status in TERMINAL else [])]
    return all((job, status, kind) in events for kind in kinds)


def judge(
    truth: Truth,
    killed: list[Line],
    at_kill: Mapping[str, Any],
    resumed: list[Line],
    restart_at: float,
) -> list[str]:
    """Every way the two runs and the file left by the kill break the guarantee."""
    saved = {watch["job_id"]: watch for watch in at_kill["watches"]}
    before = delivered(killed)
    after = delivered(resumed)

    def kept(job: str) -> str | None:
        return saved_status(saved, truth, job)

    problems = check_run("killed run", killed, truth, lambda job: None)
    problems += check_run("resumed run", resumed, truth, kept)

    # The file: only watched jobs, only delivered events, and no watch lost.
    for job, watch in saved.items():
        if job not in truth.subs:
            problems.append(f"file: a watch for {job}, which is not a watched job")
            continue
        if watch["status"] in TERMINAL:
            problems.append(f"file: {job} kept with its terminal status {watch['status']}")
        for sub in watch["sub_jobs"]:
            if sub not in truth.subs[job]:
                problems.append(f"file: {sub} kept under {job}, which has no such sub-job")
        for one in truth.family(job):
            status = kept(one)
            if status is not None and not fully_delivered(before, one, status):
                problems.append(f"file: {one} kept at {status}, not delivered before the kill")
    for top in truth.subs:
        if top not in saved:
            missing = [
                one
                for one in truth.family(top)
                if not fully_delivered(before, one, truth.outcome[one])
            ]
            if missing:
                problems.append(
                    f"file: watch {top} lost; terminal events not delivered for {missing}"
                )

    # The resumed run: only watches of the file, only what the file did not show yet.
    for line in resumed:
        top = truth.parent.get(line.job_id) or line.job_id
        if top not in saved:
            problems.append(f"resumed run: event for {top}, absent from the file: {line}")
        elif line.job_id in truth.parent and line.status in truth.statuses[line.job_id]:
            shown = kept(line.job_id)
            if truth.index(line.job_id, line.status) <= truth.index(line.job_id, shown):
                again = " again" if (line.job_id, line.status, line.kind) in before else ""
                problems.append(
                    f"resumed run: delivered{again} though the file shows {shown}: {line}"
                )

    # Ended while nothing watched: one terminal event, from the status the file kept.
    for top in saved.keys() & truth.subs.keys():
        for one in truth.family(top):
            if truth.ended_at[one] >= restart_at:
                continue
            shown, outcome = kept(one), truth.outcome[one]
            expected = set()
            if shown not in TERMINAL:
                expected = {
                    Line("change", one, truth.parent[one], outcome, shown),
                    Line(TERMINAL[outcome], one, truth.parent[one], outcome, shown),
                }
            got = [line for line in resumed if line.job_id == one]
            if Counter(got) != Counter(expected):
                problems.append(
                    f"resumed run: {one} ended while down (file: {shown}); expected "
                    f"{sorted(expected)}, got {got}"
                )

    # Overall: every terminal event, with its own callback, at least once.
    for job, outcome in truth.outcome.items():
        if not fully_delivered(before | after, job, outcome):
            problems.append(f"{job}: terminal {outcome} never fully delivered")
    return problems


# -- the tests ----------------------------------------------------------------------


# Seeds picked for their spread: a kill at "ready", early, late, and late with a long gap.
@pytest.mark.parametrize("seed", [2, 4, 6, 11])
async def test_killed_watcher_resumes_from_state_file_without_loss(
    seed: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    after_lines = rng.randint(1, 80)  # the kill comes after this many events (of ~80)...
    after_seconds = rng.uniform(0.3, 2.6)  # ...or this long after "ready", if sooner
    gap = rng.uniform(0.2, 0.8)
    state = tmp_path / "state.json"
    stderr = tmp_path / "child.stderr"
    loop = asyncio.get_running_loop()

    async with EvsSimulator(speed=1.0, seed=seed) as sim:
        child = await start_child(sim, state, stderr)
        try:
            assert child.stdin is not None
            started = await read_line(child, stderr, "before it started")
            assert started == {"kind": "started"}  # imports done: the jobs start from here
            tops = create_jobs(sim)
            child.stdin.write(" ".join(tops).encode() + b"\n")
            await child.stdin.drain()
            child.stdin.close()
            killed = await run_until_killed(child, after_lines, after_seconds, stderr)
        finally:
            if child.returncode is None:
                child.kill()
                await asyncio.wait_for(child.wait(), GUARD)
        # The child is reaped: nothing can change the file any more.
        raw_at_kill = state.read_bytes()
        at_kill = json.loads(raw_at_kill)
        _snapshot.parse(at_kill)  # a whole, valid snapshot, whenever the kill came
        assert at_kill["format"] == _snapshot.FORMAT
        assert at_kill["version"] == _snapshot.VERSION

        await asyncio.sleep(gap)

        resumed = Collector()
        restart_at = loop.time()
        async with (
            EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
            JobWatcher(client, policy=POLICY, state_path=state, **resumed.callbacks()) as watcher,
        ):
            assert watcher.watching() == {watch["job_id"] for watch in at_kill["watches"]}
            await until(lambda: not watcher.watching(), "every resumed watch ended")
        truth = Truth(sim, tops)

    problems = judge(truth, killed, at_kill, resumed.lines, restart_at)
    assert not problems, (
        f"seed {seed}, kill after {after_lines} lines or {after_seconds:.2f} s, gap "
        f"{gap:.2f} s\nfile at the kill: {raw_at_kill.decode()}\n" + "\n".join(problems)
    )
    assert json.loads(state.read_bytes())["watches"] == []  # everything ended


async def test_state_file_keeps_a_watch_as_it_was_until_its_events_are_delivered(
    tmp_path: Path,
) -> None:
    # The kill test cannot choose where its kill lands; here a callback holds the batch's
    # terminal event, deterministically, while the file is written: the file must show
    # the watch as of the events delivered so far, though its job has ended.
    state = tmp_path / "state.json"
    gate, held = asyncio.Event(), asyncio.Event()
    held_events: list[JobEvent] = []

    async def on_status_change(event: JobEvent) -> None:
        if event.parent is None and event.status.is_terminal:
            held_events.append(event)
            held.set()
            await asyncio.wait_for(gate.wait(), GUARD)

    i, r, s = "INIT", "RUNNING", "SUCCESS"
    async with EvsSimulator(speed=1.0, seed=7) as sim:
        batch = sim.add_job(sub_jobs=[[(0, i), (0.2, r), (0.4, s)], [(0, i), (0.3, s)]])
        subs = sim.sub_job_ids(batch)
        idle = sim.add_job(timeline=[(0, i)])  # never ends
        async with (
            EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
            JobWatcher(
                client, policy=POLICY, state_path=state, on_status_change=on_status_change
            ) as watcher,
        ):
            handle = watcher.watch(batch)
            # A first event delivered and written: INIT, or RUNNING if the machine was
            # slow enough for the batch to move on before the first write.
            await until(
                lambda: saved_watches(state).get(batch, {}).get("status") in (i, r),
                "the file shows the first delivered event",
            )
            await asyncio.wait_for(held.wait(), GUARD)
            assert batch not in watcher.watching()  # the job ended; its last event waits
            watcher.watch(idle)  # a change of its own: the file is written meanwhile
            await until(lambda: idle in saved_watches(state), "the file is written again")
            kept = saved_watches(state)[batch]
            assert kept["status"] == held_events[0].previous
            assert kept["sub_jobs"] == dict.fromkeys(subs, s)  # delivered before the parent

            gate.set()
            assert (await asyncio.wait_for(handle, GUARD)).status is JobStatus.SUCCESS
            await until(lambda: batch not in saved_watches(state), "the ended watch is dropped")
    assert set(saved_watches(state)) == {idle}  # aclose saved the live watch
