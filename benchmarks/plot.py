"""`python -m benchmarks.plot bench.json [OUT.png]`: CPU per poll and p99 poll lateness
against the number of watched jobs, for the watcher and the hand-written loop, from the
`scale` figures of a `python -m benchmarks --json` run (matplotlib, in the bench extra).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import orjson


def points(report: dict[str, Any]) -> dict[str, list[tuple[int, float, float]]]:
    """Per figure kind ("cpu", "p99"): (jobs, watcher value, hand-written value), by jobs."""
    found: dict[str, list[tuple[int, float, float]]] = {"cpu": [], "p99": []}
    for figure in report["figures"]:
        size = re.fullmatch(r"scale ([\d,]+) jobs", figure["section"])
        if size is None:
            continue
        jobs = int(size.group(1).replace(",", ""))
        kind = "cpu" if figure["name"].startswith("CPU per poll") else None
        kind = "p99" if figure["name"] == "poll lateness p99" else kind
        if kind is not None:
            found[kind].append((jobs, figure["value"], figure["ref_value"]))
    return {kind: sorted(values) for kind, values in found.items()}


def plot(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    data = points(report)
    fig, (cpu, late) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    # CPU per poll stays within a few times itself: a linear axis from 0; lateness spans
    # milliseconds to seconds: a log axis.
    for axis, kind, label, target, scale in (
        (cpu, "cpu", "client CPU per poll (µs)", None, "linear"),
        (late, "p99", "poll lateness p99 (ms)", {10_000: 50, 100_000: 100}, "log"),
    ):
        jobs = [n for n, _, _ in data[kind]]
        axis.plot(jobs, [v for _, v, _ in data[kind]], "o-", label="JobWatcher")
        axis.plot(jobs, [r for _, _, r in data[kind]], "s--", label="hand-written loop")
        if target:
            axis.plot(list(target), list(target.values()), "rv", label="target")
        axis.set_xscale("log")
        axis.set_yscale(scale)
        if scale == "log":
            axis.yaxis.set_major_formatter(ScalarFormatter())
            axis.yaxis.set_minor_formatter(NullFormatter())
        else:
            axis.set_ylim(bottom=0)
        axis.set_xlabel("watched jobs")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    commit = report["machine"].get("library_commit") or "?"
    fig.suptitle(
        f"1,000 and 10,000 jobs at half the watcher's flat-out rate, 100,000 at 2,000 polls/s"
        f" (commit {commit})",
        fontsize=9,
    )
    fig.savefig(out, dpi=110)


def main() -> None:
    source = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).with_name("scale.png")
    plot(orjson.loads(source.read_bytes()), out)
    print(out)


if __name__ == "__main__":
    main()
