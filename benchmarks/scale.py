"""Scale: 1,000, 10,000 and 100,000 watched jobs in one process. RSS per watched job
(its last `Job` included) against a bare dict of the same `Job` objects, and client CPU
per poll and lateness of polls against their schedule (p50/p99) against a hand-written
`while: get; sleep` task per job on the same schedule; 1,000 and 10,000 jobs at half the
watcher's measured throughput, 100,000 at 2,000 polls/s. And the time to start 100,000
watches: the `watch()` calls, each of which schedules its job's first poll.

Each measurement runs in a fresh child process (`python -m benchmarks.scale MODE ...`)
so RSS starts clean: it warms 100 connections, reads RSS, starts the N watches spread
evenly over one delay (so the load is steady, not a burst), reads RSS again once every
job was seen once, lets one more delay pass (a first poll costs more than the next ones:
the start may leave a queue behind), then measures CPU per poll and lateness for a
window. The delay asked for is N / the polls/s asked for. The watcher runs the default
policy (learned schedule on, the default `latency` and jitter) with the asked delay as
its floor: `interval` = `max_interval` = twice the delay, whose half is the shortest
delay the learned schedule takes; each answer is learned from and decided on at full
cost. On the fast server's jobs it learns delays under the floor while they are young
(each poll's delay is then the asked one) and longer ones, up to the cap of twice it,
once it has seen them run for many minutes: the delays decided are reported. Lateness
is the time from when the scheduler decided a poll was due (the end of the previous
answer plus the delay `after_answer` returned for it, recorded by wrapping that
decision) to the moment the request starts (recorded by a thin source wrapped around the
client); so a delay the scheduler chose longer than asked is not counted as lateness.
The hand-written loop's due time is the end of its previous request plus its sleep.
Lateness is also reported per tenth of the window (p50/p99 of the polls that started in
it): a backlog grows from tenth to tenth, a stall shows in one. The garbage collector's
passes in the window are timed (`gc.callbacks`): how many of the oldest generation,
their longest pause. The mode `watcher-frozen` is the watcher with `gc.freeze()` called
once every job was seen (what a service with a large steady set of watches can do); the
others never call it. 1,000 and 10,000 jobs are served by the simulator; 100,000 by the
minimal fast reference server (`fastserver.py`, pre-built RUNNING bodies), whose cost per
request is a fraction of the simulator's, so that at 2,000 requests/s the server does
not take the client's core on this 2-core machine. The full mode runs watcher and loop
twice each at 1,000 and 10,000 jobs, alternating, and keeps each one's round with the
lower p99 (the one the machine's other work disturbed least); 100,000 jobs once each.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from array import array
from typing import Any

import aiohttp
import orjson

from evs_job_watch import EvsJobClient, Job, JobWatcher, PollPolicy, TokenAuth
from evs_job_watch._core import _poller
from evs_job_watch._core._schedule import Cadence
from evs_job_watch._wire._codec import Answer

from . import fastserver
from ._common import (
    Figure,
    Simulator,
    cpu_clock,
    create_jobs,
    fast_server,
    log,
    percentile,
    rss_bytes,
    simulator,
    since,
)

CONCURRENCY = 100
BIG = 100_000
BIG_RATE = 2000.0  # polls/s asked of the 100,000-job run
WINDOW_CAP = 60.0  # seconds: the longest measuring window


def learning(delay: float) -> PollPolicy:
    """The default policy (learned schedule, default latency and jitter) with `delay` as
    the shortest delay it takes (`PollPolicy.floor`, half the interval), and twice it the
    longest."""
    return PollPolicy(interval=2 * delay, max_interval=2 * delay)


class Pauses:
    """The garbage collector's passes while `recording`: count, oldest-generation count
    and the longest pause of each kind (seconds)."""

    def __init__(self) -> None:
        self.recording = False
        self.started = 0.0
        self.count = self.full = 0
        self.longest = self.longest_full = 0.0
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        if not self.recording:
            return
        took = time.perf_counter() - self.started
        self.count += 1
        self.longest = max(self.longest, took)
        if info["generation"] == 2:
            self.full += 1
            self.longest_full = max(self.longest_full, took)


def _scheduled() -> tuple[float, float]:
    """Seconds this thread has run on a core, and waited for one while ready to run (the
    kernel's run queue: `/proc/self/schedstat`); nan where the kernel does not say."""
    try:
        with open("/proc/self/schedstat") as stats:
            ran, waited = stats.read().split()[:2]
    except (OSError, ValueError):
        return float("nan"), float("nan")
    return int(ran) / 1e9, int(waited) / 1e9


class Timeline:
    """When each job's next poll is due and when its polls start, kept in arrays made
    before the first RSS read. A due time is set by `decided` (the watcher: the end of
    the answer plus the delay the scheduler chose) or by `ended` with a fixed delay (the
    hand-written loop); a poll with no due time known (the first) is not measured."""

    def __init__(self, ids: list[str], delay: float | None) -> None:
        self.index = {job_id: position for position, job_id in enumerate(ids)}
        self.due = array("d", bytes(8 * len(ids)))
        self.answered = bytearray(len(ids))
        self.delay = delay  # the loop's fixed sleep; None: the scheduler decides
        self.seen = 0
        self.all_seen = asyncio.Event()
        self.recording = False
        self.lateness = array("d")
        self.when = array("d")  # the start of each poll measured
        self.delays = array("d")  # the delays decided while recording
        self._last: tuple[int, float] | None = None  # the answer awaiting its decision

    def started(self, job_id: str, now: float) -> None:
        position = self.index[job_id]
        due = self.due[position]
        self.due[position] = 0.0
        if self.recording and due:
            self.lateness.append(now - due)
            self.when.append(now)

    def ended(self, job_id: str, now: float) -> None:
        position = self.index[job_id]
        if not self.answered[position]:
            self.answered[position] = 1
            self.seen += 1
            if self.seen == len(self.due):
                self.all_seen.set()
        if self.delay is not None:
            self.due[position] = now + self.delay
        else:
            self._last = (position, now)

    def decided(self, delay: float) -> None:
        """The scheduler's delay after the answer that just ended (it decides in the same
        step of the loop as the answer returns, before any other poll's answer)."""
        if self._last is not None:
            position, ended = self._last
            self.due[position] = ended + delay
            self._last = None
            if self.recording:
                self.delays.append(delay)

    def decisions(self) -> dict[str, float]:
        """The delays the scheduler decided while recording: how many, their mean and
        longest (s)."""
        count = len(self.delays)
        return {
            "count": count,
            "mean_s": sum(self.delays) / count if count else float("nan"),
            "max_s": max(self.delays) if count else float("nan"),
        }

    def tenths(self, start: float, window: float) -> list[tuple[float, float]]:
        """p50 and p99 lateness (ms) of the polls started in each tenth of the window."""
        parts: list[list[float]] = [[] for _ in range(10)]
        for late, when in zip(self.lateness, self.when, strict=True):
            parts[min(max(int((when - start) / window * 10), 0), 9)].append(late)
        return [(percentile(part, 0.5) * 1e3, percentile(part, 0.99) * 1e3) for part in parts]


def _recording_decisions(timeline: Timeline) -> None:
    """Have every delay the poller decides after an answer told to `timeline`, by
    wrapping the decision the poller calls (`_schedule.after_answer`, as the poller
    imported it): the library exposes no due times, and this is the one place where the
    delay it acts on is known."""
    decide = _poller.after_answer

    def after_answer(*args: Any) -> tuple[Cadence, float]:
        cadence, delay = decide(*args)
        timeline.decided(delay)
        return cadence, delay

    _poller.after_answer = after_answer  # type: ignore[assignment]


class Recording:
    """A source that records when each request starts and ends around the client (both
    of its methods, so the watcher polls through `poll_job` as it does the client)."""

    def __init__(self, client: EvsJobClient, timeline: Timeline) -> None:
        self._client = client
        self._timeline = timeline
        self._time = asyncio.get_running_loop().time

    async def get_job(self, job_id: str) -> Job:
        return (await self.poll_job(job_id, None)).job

    async def poll_job(self, job_id: str, last: Answer | None) -> Answer:
        self._timeline.started(job_id, self._time())
        try:
            return await self._client.poll_job(job_id, last)
        finally:
            self._timeline.ended(job_id, self._time())


async def _staggered(ids: list[str], interval: float, start: Any) -> None:
    """Call `start(job_id)` for each id, spread evenly over one interval."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    for position, job_id in enumerate(ids):
        due = begin + interval * position / len(ids)
        if due > loop.time() + 0.002:
            await asyncio.sleep(due - loop.time())
        start(job_id)


async def child(mode: str, sim: Simulator, ids: list[str], interval: float, window: float) -> dict:
    """One measurement in this (fresh) process; the figures as a dict."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = EvsJobClient(
            sim.endpoint, sim.project_id, auth=TokenAuth(sim.token), session=session
        )
        await asyncio.gather(*(client.get_job(job_id) for job_id in ids[:CONCURRENCY]))
        watching = mode.startswith("watcher")
        timeline = Timeline(ids, None if watching else interval)
        keep: list[Any] = []
        gc.collect()
        before = rss_bytes()
        if mode == "dict":
            jobs: dict[str, Job] = {}
            queue = iter(ids)

            async def fetch() -> None:
                for job_id in queue:
                    jobs[job_id] = await client.get_job(job_id)

            await asyncio.gather(*(fetch() for _ in range(CONCURRENCY)))
            gc.collect()
            return {"rss_per_job": (rss_bytes() - before) / len(ids)}
        if mode == "start":
            # Only the watch() calls: each schedules its job's first poll, none is sent.
            watcher = JobWatcher(client, policy=learning(interval), max_concurrency=CONCURRENCY)
            started, cpu_started = cpu_clock()
            keep = [watcher.watch(job_id) for job_id in ids]
            took, cpu = since((started, cpu_started))
            rss = (rss_bytes() - before) / len(ids)
            await watcher.aclose()
            del keep

            async def follow(job_id: str) -> None:  # never runs: cancelled before its turn
                await asyncio.sleep(interval)

            started = time.perf_counter()
            tasks = [asyncio.ensure_future(follow(job_id)) for job_id in ids]
            ref_took = time.perf_counter() - started
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return {
                "start_s": took,
                "start_cpu_s": cpu,
                "rss_per_unpolled_watch": rss,
                "ref_start_s": ref_took,
            }
        if watching:
            _recording_decisions(timeline)
            watcher = JobWatcher(
                Recording(client, timeline), policy=learning(interval), max_concurrency=CONCURRENCY
            )
            await _staggered(ids, interval, lambda job_id: keep.append(watcher.watch(job_id)))
            polls = lambda: watcher.stats.polls  # noqa: E731
        else:
            latest: dict[str, Any] = {}
            count = [0]

            async def follow(job_id: str) -> None:
                url, clock = sim.job_url(job_id), asyncio.get_running_loop().time
                while True:
                    timeline.started(job_id, clock())
                    count[0] += 1
                    async with session.get(url, headers=sim.headers) as response:
                        latest[job_id] = orjson.loads(await response.read())
                    timeline.ended(job_id, clock())
                    await asyncio.sleep(interval)

            await _staggered(
                ids, interval, lambda job_id: keep.append(asyncio.ensure_future(follow(job_id)))
            )
            polls = lambda: count[0]  # noqa: E731
        await timeline.all_seen.wait()
        gc.collect()
        rss_per_job = (rss_bytes() - before) / len(ids)
        # One more interval before measuring: a job's first poll costs more than the
        # others (its first answer is decoded and delivered), so the start may leave a
        # queue behind; the figures are of the steady state that follows.
        if mode == "watcher-frozen":
            gc.freeze()  # every watch and its last answer: out of the collector's walks
        await asyncio.sleep(min(interval, WINDOW_CAP))
        pauses = Pauses()
        timeline.recording = pauses.recording = True
        first, start = polls(), cpu_clock()
        began, queued = asyncio.get_running_loop().time(), _scheduled()
        await asyncio.sleep(window)
        wall, cpu = since(start)
        ran, waited = (end - begin for end, begin in zip(_scheduled(), queued, strict=True))
        timeline.recording = pauses.recording = False
        counted = polls() - first
        if watching:
            await watcher.aclose()
        else:
            for task in keep:
                task.cancel()
            await asyncio.gather(*keep, return_exceptions=True)
        if watching and counted and not timeline.delays:
            # The poller no longer decides through `_poller.after_answer`: no due time known.
            raise RuntimeError("scale: no delay decided was recorded; see _recording_decisions")
        late = timeline.lateness
        return {
            "rss_per_job": rss_per_job,
            "cpu_per_poll": cpu / counted * 1e6,
            "polls_per_s": counted / wall,
            "cpu_share": cpu / wall,  # of one core: near 1, the process could do no more
            "late_p50": percentile(late, 0.5) * 1e3,
            "late_p99": percentile(late, 0.99) * 1e3,
            "late_max": max(late) * 1e3 if late else float("nan"),
            "gc_passes": pauses.count,
            "gc_longest_ms": pauses.longest * 1e3,
            "gc_full_passes": pauses.full,
            "gc_longest_full_ms": pauses.longest_full * 1e3,
            "late_tenths_ms": timeline.tenths(began, window),
            # Of the window, the seconds the loop's thread ran, and waited for a core while
            # it had work (the machine's other work): a backlog with a long wait is the
            # machine's, not the loop's.
            "window_s": wall,
            "ran_s": ran,
            "waited_for_core_s": waited,
            "delays_decided": timeline.decisions(),
        }


async def _run_child(mode: str, sim: Simulator, ids: list[str], interval: float, window: float):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.scale",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    request = {"mode": mode, "sim": vars(sim), "ids": ids, "interval": interval, "window": window}
    out, _ = await process.communicate(orjson.dumps(request))
    if process.returncode:
        raise RuntimeError(f"scale child {mode} failed with exit code {process.returncode}")
    return orjson.loads(out)


async def _measure(
    sizes: list[int], rate: float, window: float, rounds: int
) -> dict[int, dict[str, dict]]:
    """Per size and mode, the round with the lowest p99 lateness (all rounds kept in it)."""
    results: dict[int, dict[str, dict]] = {}
    small = [size for size in sizes if size < BIG]
    if small:
        async with simulator(1e-6) as sim:
            log(f"scale: creating {max(small):,} jobs")
            all_ids = await create_jobs(sim, max(small), concurrency=20)
            for size in small:
                # Half the watcher's throughput.
                results[size] = await _sized(sim, all_ids[:size], size / (rate / 2), window, rounds)
    if BIG in sizes:
        async with fast_server(BIG) as sim:  # 2,000 polls/s
            results[BIG] = await _sized(sim, fastserver.job_ids(BIG), BIG / BIG_RATE, window, 1)
    return results


async def _sized(
    sim: Simulator, ids: list[str], interval: float, window: float, rounds: int
) -> dict[str, dict]:
    size = len(ids)
    span = min(max(window, 3 * interval), WINDOW_CAP)
    runs: dict[str, list[dict]] = {"dict": [], "hand-written": [], "watcher": []}
    if size >= BIG:
        runs["watcher-frozen"] = []
        runs["start"] = []
    for round_ in range(rounds):
        for mode, done in runs.items():
            if mode in ("dict", "start") and round_:
                continue
            log(f"scale: {size:,} jobs, {mode}, interval {interval:.2f} s")
            done.append(await _run_child(mode, sim, ids, interval, span))
    result = {}
    for mode, done in runs.items():
        best = min(done, key=lambda run: run.get("late_p99", 0.0))
        result[mode] = {**best, "interval": interval, "rounds": done}
    return result


def measure(quick: bool, rate: float, only: list[int] | None = None) -> list[Figure]:
    """`rate`: the polls/s the watcher reached flat out; 1,000 and 10,000 jobs are polled
    at half of it, 100,000 at 2,000 polls/s. `only`: these sizes of the mode's."""
    sizes, window, rounds = ([1000], 2.0, 1) if quick else ([1000, 10_000, BIG], 5.0, 2)
    sizes = [size for size in sizes if only is None or size in only]
    results = asyncio.run(_measure(sizes, rate, window, rounds))
    figures = []
    for size, by_mode in results.items():
        mine, hand, bare = by_mode["watcher"], by_mode["hand-written"], by_mode["dict"]
        section = f"scale {size:,} jobs"
        asked = BIG_RATE if size >= BIG else rate / 2
        extra = {"interval_s": mine["interval"], "target_polls_per_s": asked}
        figures += [
            Figure(
                section,
                "RSS per watched job",
                mine["rss_per_job"],
                "B",
                "dict of Job",
                bare["rss_per_job"],
                ("value", "<=", 1024),
                extra={"hand_written_rss_per_job": hand["rss_per_job"]},
            ),
            Figure(
                section,
                f"CPU per poll at {asked:,.0f} polls/s",
                mine["cpu_per_poll"],
                "µs",
                "hand-written loop",
                hand["cpu_per_poll"],
                extra={
                    **extra,
                    "polls_per_s": mine["polls_per_s"],
                    "ref_polls_per_s": hand["polls_per_s"],
                },
            ),
            Figure(
                section,
                "poll lateness p50",
                mine["late_p50"],
                "ms",
                "hand-written loop",
                hand["late_p50"],
                extra=extra,
            ),
            Figure(
                section,
                "poll lateness p99",
                mine["late_p99"],
                "ms",
                "hand-written loop",
                hand["late_p99"],
                ("value", "<=", 100 if size >= BIG else 50),
                extra={
                    **extra,
                    "max_ms": mine["late_max"],
                    "window_s": mine["window_s"],
                    "ref_max_ms": hand["late_max"],
                    "rounds_p99_ms": [run["late_p99"] for run in mine["rounds"]],
                    "ref_rounds_p99_ms": [run["late_p99"] for run in hand["rounds"]],
                    "tenths_p50_p99_ms": mine["late_tenths_ms"],
                    "ref_tenths_p50_p99_ms": hand["late_tenths_ms"],
                    "delays_decided": mine["delays_decided"],
                    **_gc(mine),
                    "ref_gc": _gc(hand),
                },
            ),
        ]
        if "watcher-frozen" in by_mode:
            frozen = by_mode["watcher-frozen"]
            figures += [
                Figure(
                    section,
                    "poll lateness p99, gc.freeze() once every job was seen",
                    frozen["late_p99"],
                    "ms",
                    "hand-written loop",
                    hand["late_p99"],
                    ("value", "<=", 100),
                    extra={
                        **extra,
                        "max_ms": frozen["late_max"],
                        "p50_ms": frozen["late_p50"],
                        "tenths_p50_p99_ms": frozen["late_tenths_ms"],
                        "delays_decided": frozen["delays_decided"],
                        "cpu_per_poll": frozen["cpu_per_poll"],
                        "polls_per_s": frozen["polls_per_s"],
                        "window_s": frozen["window_s"],
                        **_gc(frozen),
                    },
                ),
            ]
        if "start" in by_mode:
            start = by_mode["start"]
            figures.append(
                Figure(
                    section,
                    f"start {size:,} watches (the watch() calls)",
                    start["start_s"],
                    "s",
                    "a task per job",
                    start["ref_start_s"],
                    ("value", "<", 2.0),
                    extra={
                        "cpu_s": start["start_cpu_s"],
                        "rss_per_unpolled_watch": start["rss_per_unpolled_watch"],
                    },
                )
            )
    return figures


def _gc(run: dict) -> dict:
    """The garbage collector's figures of one run, for a figure's extra."""
    keys = (
        "gc_passes",
        "gc_longest_ms",
        "gc_full_passes",
        "gc_longest_full_ms",
        "cpu_share",
        "ran_s",
        "waited_for_core_s",
    )
    return {key: run[key] for key in keys if key in run}


def main() -> None:
    request = orjson.loads(sys.stdin.buffer.read())
    sim = Simulator(**request["sim"])
    result = asyncio.run(
        child(request["mode"], sim, request["ids"], request["interval"], request["window"])
    )
    sys.stdout.buffer.write(orjson.dumps(result))


if __name__ == "__main__":
    main()
