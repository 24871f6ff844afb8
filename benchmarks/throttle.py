"""Throttling: how much of the account's quota the watcher uses, and what it costs in 429s.

Against the simulator's token bucket (`RateLimit`, the API gateway's account-wide limit,
burst a tenth of the rate) and 2,000 running jobs whose polls ask for more than the limit
allows: the requests the bucket accepted per second against its rate, the share of the
watcher's requests answered 429, the time the watcher takes to settle when the limit
halves and then doubles, and the longest any watch went without an answer against
`watches / limit`, the wait of a fair share of a scarce quota.

It measures counts and simulated time, not CPU, so the simulator runs in this process
(`EvsSimulator`) with its clock `speed` times fast: the bucket fills on that clock, and
every policy is scaled by 1/speed, so all rates and times are per simulated second. The
ground truth is the simulator's request log: each answer or 429 at the loop time the
bucket decided it. A warm-up (the first polls of 2,000 new watches, and the pacer finding
the limit) comes before the measured window.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from evs_job_watch import EvsJobClient, JobWatcher, PollPolicy, TokenAuth
from evs_job_watch.simulator import EvsSimulator, RateLimit

from ._common import Figure, log, loop_lag, percentile, scaled

JOBS = 2_000
SEED = 15
PLOT = Path(__file__).with_name("throttle.png")
# Polls every 0.5-1 s ask for 2,000-4,000 requests/s: far above the limit.
EAGER = PollPolicy(interval=0.5, max_interval=1.0, latency=None)


@dataclass
class Scenario:
    """A limit (rates per simulated second, changing at simulated seconds from its start),
    a policy, a warm-up and the measured window after it, in simulated seconds."""

    name: str
    limit: RateLimit
    policy: PollPolicy
    warmup: float
    measured: float
    changes: list[float] = field(default_factory=list)  # when the limit changes

    @property
    def lowest(self) -> float:
        return min([self.limit.rate, *(rate for _, rate in self.limit.changes)])


def scenarios(quick: bool) -> list[Scenario]:
    steady, phase = (30.0, 15.0) if quick else (60.0, 30.0)
    warmup = 20.0
    return [
        Scenario("demand 10-20x the limit", RateLimit(200), EAGER, warmup, steady),
        # The default policy's intervals grow to 15 s: 2,000 jobs then ask 133-200/s.
        Scenario("default policy, 1.3-2x", RateLimit(100), PollPolicy(), 2 * warmup, steady),
        Scenario(
            "limit halves, then doubles",
            RateLimit(200, changes=((warmup + phase, 100), (warmup + 2 * phase, 200))),
            EAGER,
            warmup,
            3 * phase,
            changes=[warmup + phase, warmup + 2 * phase],
        ),
        # The same limit, but each 429 says when a token is free (Retry-After).
        Scenario("with Retry-After", RateLimit(200, retry_after=True), EAGER, warmup, phase),
    ]


@dataclass
class Run:
    """What one scenario's requests became, per simulated second from the limit's start."""

    scenario: Scenario
    accepted: list[int]
    refused: list[int]
    answers: dict[str, list[float]]  # per job, the simulated times of its answers
    lag: float  # the loop's lag, p99, in simulated seconds: the measurement's uncertainty

    def limit(self, second: int) -> float:
        return self.scenario.limit.rate_at(second + 0.5)

    def window(self) -> range:
        start = int(self.scenario.warmup)
        return range(start, start + int(self.scenario.measured))

    def worst_wait(self) -> float:
        """The longest any job went without an answer, within the measured window."""
        start, end = self.window().start, self.window().stop
        worst = 0.0
        for times in self.answers.values():
            for last, at in itertools.pairwise(times):
                if start <= at < end:
                    worst = max(worst, at - last)
            worst = max(worst, end - times[-1])  # still waiting when the window closed
        return worst

    def settle(self, change: float, until: float) -> float:
        """Seconds from `change` to the first second from which, over the next 5 seconds,
        the requests accepted came to at least 0.9x the new limit and those sent to at
        most 1.1x it (a probe may overshoot one second; on average it must not)."""
        first = int(change)
        for second in range(first, int(until) - 4):
            span = range(second, second + 5)
            limit = sum(self.limit(s) for s in span)
            accepted = sum(self.accepted[s] for s in span)
            sent = accepted + sum(self.refused[s] for s in span)
            if accepted >= 0.9 * limit and sent <= 1.1 * limit:
                return float(second - first)
        return float("inf")


async def _run(scenario: Scenario, speed: float) -> Run:
    loop = asyncio.get_running_loop()
    async with EvsSimulator(speed=speed, seed=SEED) as sim:
        ids = [sim.add_job(timeline=[(0, "RUNNING")]) for _ in range(JOBS)]  # never end
        sim.rate_limit = scenario.limit  # takes effect now, full
        start = loop.time()
        seconds = scenario.warmup + scenario.measured
        stop, lags = asyncio.Event(), []
        ticker = asyncio.create_task(loop_lag(stop, lags))
        async with (
            EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
            JobWatcher(client, policy=scaled(scenario.policy, speed)) as watcher,
        ):
            handles = [watcher.watch(job_id) for job_id in ids]
            await asyncio.sleep(seconds / speed)
            for handle in handles:
                handle.cancel()
        stop.set()
        await ticker
        bins = math.ceil(seconds)
        accepted, refused = [0] * bins, [0] * bins
        answers: dict[str, list[float]] = defaultdict(list)
        for record in sim.requests:
            at = (record.at - start) * speed
            if record.method != "GET" or not 0 <= at < seconds or record.job_id is None:
                continue
            if record.status == 429:
                refused[int(at)] += 1
            else:
                accepted[int(at)] += 1
                answers[record.job_id].append(at)
    return Run(scenario, accepted, refused, answers, percentile(lags, 0.99) * speed)


def _figures(run: Run, speed: float) -> list[Figure]:
    scenario, window = run.scenario, run.window()
    accepted = sum(run.accepted[s] for s in window)
    refused = sum(run.refused[s] for s in window)
    limit = sum(run.limit(s) for s in window)
    seconds = len(window)
    section = f"throttle: {scenario.name}"
    extra = {"speed": speed, "jobs": JOBS, "lag_p99_sim_s": run.lag, "per_second": _series(run)}
    fair = max(scenario.policy.max_interval, JOBS / scenario.lowest)
    figures = [
        Figure(
            section,
            "accepted requests/s",
            accepted / seconds,
            "req/s",
            "bucket rate",
            limit / seconds,
            target=("ratio", ">=", 0.9),
            extra=extra,
        ),
        Figure(
            section,
            "429s",
            refused,
            "requests",
            "requests sent",
            accepted + refused,
            target=("ratio", "<=", 0.03),
        ),
        Figure(section, "worst wait of a watch", run.worst_wait(), "sim s", "watches/limit", fair),
    ]
    for index, change in enumerate(scenario.changes):
        until = scenario.changes[index + 1] if index + 1 < len(scenario.changes) else window.stop
        what = "halved" if run.limit(int(change)) < run.limit(int(change) - 1) else "raised"
        figures.append(
            Figure(
                section,
                f"time to settle, limit {what}",
                run.settle(change, until),
                "sim s",
                "max_interval",
                scenario.policy.max_interval,
                target=("value", "<=", 5.0),
            )
        )
    return figures


def _series(run: Run) -> list[tuple[int, float, int, int]]:
    """(second, limit, accepted, refused) for every simulated second."""
    return [(s, run.limit(s), run.accepted[s], run.refused[s]) for s in range(len(run.accepted))]


def plot(runs: list[Run], path: Path) -> None:
    """Sent and accepted requests per second against the limit, one panel per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(runs), 1, figsize=(9, 2.6 * len(runs)), squeeze=False)
    for axis, run in zip(axes[:, 0], runs, strict=True):
        seconds = list(range(len(run.accepted)))
        sent = [a + r for a, r in zip(run.accepted, run.refused, strict=True)]
        axis.step(
            seconds, [run.limit(s) for s in seconds], where="post", color="black", label="limit"
        )
        axis.plot(seconds, sent, color="tab:red", linewidth=1, label="sent")
        axis.plot(seconds, run.accepted, color="tab:blue", linewidth=1, label="accepted")
        axis.axvspan(0, run.scenario.warmup, color="0.92", label="warm-up")
        axis.set_title(run.scenario.name, fontsize=10)
        axis.set_ylabel("requests / sim s")
        axis.set_ylim(0, 1.6 * max(run.limit(s) for s in seconds))
    axes[-1, 0].set_xlabel("simulated seconds")
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=4)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def measure(quick: bool) -> list[Figure]:
    speed = 2.0
    figures: list[Figure] = []
    runs = []
    for scenario in scenarios(quick):
        log(f"throttle: {scenario.name}, {JOBS} jobs, in-process at speed {speed:g}")
        run = asyncio.run(_run(scenario, speed))
        runs.append(run)
        figures += _figures(run, speed)
    try:
        plot(runs, PLOT)
        log(f"throttle: plot written to {PLOT}")
    except ImportError:
        log("throttle: matplotlib not installed (the bench extra), no plot")
    return figures
