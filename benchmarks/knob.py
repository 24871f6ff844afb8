"""The knob against one fixed interval: which `latency` dominates it on every mix, cold and warm.

`python -m benchmarks.knob INTERVAL LATENCY... [--seeds FIRST ...] [--count N] [--jobs N]`

For each value of `latency` given, replays every mix of `mixes.py` over `--count` seeds
from each `--seeds` start (a seed set), cold and warm, exactly as `policy.py` does
(`replay.py`: the library's own decisions on simulated time, deterministic), and
compares the means over the seeds with fixed `INTERVAL` row by row (12 rows: 6 mixes,
cold and warm). It prints, per seed set and per value, the rows dominated (no more
requests per job, a lower p50 and a lower p95) and the worst row's margin: the largest of
the three ratios minus one (under zero: the row is dominated by that much at least; over
zero: it is missed by that much). A value dominating every row of every seed set is a
mapping for `KNOB` in `policy.py`; else the one with the smallest worst margin is the
nearest miss. Only replays: a value takes a minute or two on 2 busy cores.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import orjson

from evs_job_watch import PollPolicy

from ._common import fixed
from .mixes import MIXES, wave
from .policy import Triple, dominates, triple
from .replay import replay

__all__ = ["Verdict", "check", "margin", "rows"]

MODES = ("cold", "warm")
Row = tuple[str, str]  # (mix, mode)


def _one(task: tuple[str, int, str, float | None, float]) -> Triple:
    """One replay: a mix, a seed, a mode and a policy (a latency, or a fixed interval)."""
    mix, seed, mode, latency, interval = task
    measured = wave(mix, seed)
    waves = [wave(mix, seed, measured=False), measured] if mode == "warm" else [measured]
    policy = fixed(interval) if latency is None else PollPolicy(latency=latency)
    return triple(replay(waves, policy, seed=seed))


def rows(
    policies: Sequence[tuple[float | None, float]],
    seeds: Sequence[int],
    mixes: Iterable[str] = MIXES,
    jobs: int = 1,
) -> list[dict[Row, Triple]]:
    """Per policy (`(latency, None)` for the knob, `(None, interval)` for a fixed one):
    per row, the means over `seeds` of requests per job, p50 and p95."""
    mixes = list(mixes)
    tasks = [
        (mix, seed, mode, latency, interval)
        for latency, interval in policies
        for mix in mixes
        for mode in MODES
        # a fixed interval learns nothing: warm is cold
        for seed in seeds
        if latency is not None or mode == "cold"
    ]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            found = list(pool.map(_one, tasks, chunksize=4))
    else:
        found = [_one(task) for task in tasks]
    figures = dict(zip(tasks, found, strict=True))
    out = []
    for latency, interval in policies:
        table = {}
        for mix in mixes:
            for mode in MODES:
                own = mode if latency is not None else "cold"
                each = [figures[(mix, seed, own, latency, interval)] for seed in seeds]
                table[(mix, mode)] = _mean(each)
        out.append(table)
    return out


def _mean(values: list[Triple]) -> Triple:
    return tuple(statistics.fmean(v[k] for v in values) for k in range(3))  # type: ignore[return-value]


def margin(mine: Triple, theirs: Triple) -> float:
    """The largest of the three ratios (requests, p50, p95, mine over theirs) minus one:
    under zero, `mine` dominates `theirs`; zero or over, it does not (requests equal to
    theirs still dominate, at a margin of exactly zero, with lower p50 and p95)."""
    return max(a / b for a, b in zip(mine, theirs, strict=True)) - 1.0


@dataclass
class Verdict:
    """One value of `latency` against a fixed interval, on one seed set."""

    latency: float
    dominated: int  # rows dominated
    worst: Row  # the row with the largest margin
    margin: float  # its margin (see `margin`)
    ratios: dict[Row, Triple]  # per row, mine over theirs

    @property
    def everywhere(self) -> bool:
        return self.dominated == len(self.ratios)


def check(
    interval: float,
    latencies: Sequence[float],
    seeds: Sequence[int],
    mixes: Iterable[str] = MIXES,
    jobs: int = 1,
) -> list[Verdict]:
    """Each value of `latency` against fixed `interval`, on the means over `seeds`."""
    policies: list[tuple[float | None, float]] = [(None, interval)]
    policies += [(latency, 0.0) for latency in latencies]
    theirs, *mine = rows(policies, seeds, mixes, jobs)
    verdicts = []
    for latency, table in zip(latencies, mine, strict=True):
        ratios = {
            row: tuple(a / b for a, b in zip(table[row], theirs[row], strict=True)) for row in table
        }
        margins = {row: margin(table[row], theirs[row]) for row in table}
        worst = max(margins, key=margins.__getitem__)
        dominated = sum(dominates(table[row], theirs[row]) for row in table)
        verdicts.append(Verdict(latency, dominated, worst, margins[worst], ratios))  # type: ignore[arg-type]
    return verdicts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.knob", description=__doc__)
    parser.add_argument("interval", type=float)
    parser.add_argument("latencies", type=float, nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1001, 2001])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--json", help="write every verdict there")
    args = parser.parse_args(argv)
    report = {}
    for first in args.seeds:
        seeds = range(first, first + args.count)
        verdicts = check(args.interval, args.latencies, list(seeds), jobs=args.jobs)
        print(f"fixed {args.interval:g} s, seeds {seeds[0]}-{seeds[-1]}:")
        for v in verdicts:
            mix, mode = v.worst
            r = v.ratios[v.worst]
            print(
                f"  latency {v.latency:<6g} {v.dominated:2d} of {len(v.ratios)} rows;"
                f" worst {mix} {mode}: {r[0]:.3f}x, {r[1]:.3f}x, {r[2]:.3f}x"
                f" (margin {v.margin * 100:+.1f}%)"
            )
        report[f"{seeds[0]}-{seeds[-1]}"] = [
            {
                "latency": v.latency,
                "dominated": v.dominated,
                "worst": " ".join(v.worst),
                "margin": v.margin,
                "ratios": {" ".join(row): r for row, r in v.ratios.items()},
            }
            for v in verdicts
        ]
    if args.json:
        with open(args.json, "wb") as out:
            out.write(orjson.dumps(report, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
