"""`python -m benchmarks [--quick] [--json PATH] [--plot PNG] [--only SECTION ...]`: every
benchmark, one table, every figure (with its reference, ratio and target) as JSON, and
the scale figures as a plot (matplotlib, in the bench extra).

Sections: decode, throughput, scale, alternatives, policy, fleet, throttle. `scale` paces
its polls at half the watcher's throughput, so it runs the throughput section first when
asked alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from . import alternatives, decode, fleet, policy, scale, throttle, throughput
from ._common import Figure, log

SECTIONS = ("decode", "throughput", "scale", "alternatives", "policy", "fleet", "throttle")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    versions = {}
    for package in ("aiohttp", "orjson", "uvloop", "huaweicloudsdkevs", "evs-job-watch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    root = Path(__file__).resolve().parent.parent
    git = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": len(__import__("os").sched_getaffinity(0)),
        "versions": versions,
        "library_commit": git.stdout.strip() or None,
    }


def table(figures: list[Figure]) -> str:
    """The figures as a Markdown table."""
    rows = [("section", "figure", "value", "reference", "ref. value", "ratio", "target", "met")]
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f.ok]
        value = f"{f.value:,.3g} {f.unit}" if f.value < 100 else f"{f.value:,.0f} {f.unit}"
        ref = f"{f.ref_value:,.3g}" if f.ref_value < 100 else f"{f.ref_value:,.0f}"
        rows.append(
            (f.section, f.name, value, f.reference, ref, f"{f.ratio:.2f}x", f.target_text(), met)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (< 90 s in all)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="repeatable")
    parser.add_argument("--plot", type=Path, help="plot the scale figures here (a .png)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=policy.FIRST_SEED,
        help="the policy section's first seed (8 from it; 2001 for the held-out set)",
    )
    parser.add_argument(
        "--scale-size", type=int, action="append", help="only these numbers of jobs in scale"
    )
    args = parser.parse_args(argv)
    wanted = args.only or list(SECTIONS)
    started, measured_on = time.perf_counter(), machine()
    figures: list[Figure] = []
    rates: dict[str, float] = {}
    if "decode" in wanted:
        figures += decode.measure(args.quick)
    # The scale section paces 1,000 and 10,000 jobs at half the watcher's throughput.
    paced = args.scale_size is None or any(size < scale.BIG for size in args.scale_size)
    if "throughput" in wanted or ("scale" in wanted and paced):
        found, rates = throughput.measure(args.quick)
        if "throughput" in wanted:
            figures += found
    if "scale" in wanted:
        figures += scale.measure(args.quick, rates.get("asyncio", 0.0), args.scale_size)
    if "alternatives" in wanted:
        figures += alternatives.measure(args.quick)
    if "policy" in wanted:
        figures += policy.measure(args.quick, args.seeds)
    if "fleet" in wanted:
        figures += fleet.measure(args.quick)
    if "throttle" in wanted:
        figures += throttle.measure(args.quick)
    took = time.perf_counter() - started
    log(f"done in {took:.0f} s")
    print(table(figures))
    report = {
        "command": " ".join(["python -m benchmarks", *(argv or sys.argv[1:])]),
        "mode": "quick" if args.quick else "full",
        "seconds": took,
        "machine": measured_on,
        "load_average": os.getloadavg(),  # at the end: how busy the shared machine was
        "rates": rates,
        "figures": [f.as_json() for f in figures],
    }
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if args.plot and "scale" in wanted:
        from . import plot

        plot.plot(orjson.loads(orjson.dumps(report)), args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
