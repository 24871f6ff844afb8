"""The ``evs-job-watch`` command line: ``demo``, ``watch`` and ``simulate``.

Exit codes of ``watch``: 0 every job succeeded, 1 some failed, 2 usage or
configuration error, 3 a watch error (timeout, not found, authentication, API).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from ._client import EvsJobClient
from ._demo import DemoPlan, run_demo
from ._display import choose_display
from ._environment import KEY_PAIRS
from ._errors import EvsJobWatchError, JobFailedError
from ._models import Job
from ._policy import PollPolicy
from ._regions import PROVIDERS
from ._validate import check_id
from ._version import __version__
from ._watcher import JobWatcher
from .simulator import main as serve_simulator

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WATCH_ERROR = 0, 1, 2, 3

_DEMO = DemoPlan()
_POLICY = PollPolicy()


class ConfigError(Exception):
    """A problem with the command's options or environment (exit code 2)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evs-job-watch", description="Watch Elastic Volume Service jobs until they end."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="watch a fleet of jobs on the embedded simulator")
    demo.add_argument(
        "--speed", type=float, default=_DEMO.speed, help="simulated seconds per real second"
    )
    demo.add_argument("--seed", type=int, default=_DEMO.seed)
    demo.add_argument("--jobs", type=int, default=_DEMO.singles, help="single-disk creates")
    demo.add_argument("--no-faults", action="store_true", help="a well-behaved API")

    watch = commands.add_parser(
        "watch",
        help="watch jobs on a real endpoint",
        description=(
            "Credentials come from the environment: OS_AUTH_TOKEN, else an access key "
            "pair (" + ", ".join(f"{a}/{s}" for a, s, _ in KEY_PAIRS) + "), else "
            "OS_USERNAME/OS_PASSWORD; or from clouds.yaml with --os-cloud (OS_CLOUD). "
            "Exit codes: 0 all succeeded, 1 some failed, 2 usage, 3 watch error."
        ),
    )
    watch.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    where = watch.add_mutually_exclusive_group()
    where.add_argument("--endpoint", help="e.g. https://evs.eu-de.otc.t-systems.com")
    where.add_argument("--region", help="e.g. eu-de (with --cloud); default $OS_REGION_NAME")
    watch.add_argument("--cloud", choices=PROVIDERS, help="otc (default) or huawei")
    watch.add_argument("--os-cloud", help="the clouds.yaml entry; default $OS_CLOUD")
    watch.add_argument("--service", choices=("evs", "ecs"), default="evs", help="job API")
    watch.add_argument("--project-id", help="default $OS_PROJECT_ID")
    watch.add_argument("--timeout", type=float, default=600.0, help="seconds for all jobs together")
    watch.add_argument(
        "--interval", type=float, default=_POLICY.interval, help="first poll delay (s)"
    )
    watch.add_argument("--max-interval", type=float, default=_POLICY.max_interval, help="seconds")
    watch.add_argument("--max-concurrency", type=int, default=64)
    watch.add_argument("--json", action="store_true", help="one JSON object per event")

    # Listed for --help only: main() hands "simulate ..." to the simulator's own parser.
    commands.add_parser("simulate", help="serve the EVS simulator (see: simulate --help)")
    return parser


async def _client_from(args: argparse.Namespace, env: Mapping[str, str]) -> EvsJobClient:
    for job_id in args.job_ids:
        check_id(job_id)
    if not (args.timeout > 0 and args.max_concurrency > 0):
        raise ConfigError("--timeout and --max-concurrency must be positive")
    args.policy = PollPolicy(interval=args.interval, max_interval=args.max_interval)
    return await EvsJobClient.from_environment(
        args.os_cloud,
        service=args.service,
        provider=args.cloud,
        region=args.region,
        endpoint=args.endpoint,
        project_id=args.project_id,
        environ=env,
    )


async def _connect_and_watch(args: argparse.Namespace, out: TextIO) -> int:
    return await _watch(args, await _client_from(args, os.environ), out)


async def _watch(args: argparse.Namespace, client: EvsJobClient, out: TextIO) -> int:
    job_ids = list(dict.fromkeys(args.job_ids))
    display = choose_display(job_ids, json_lines=args.json, out=out)
    async with (
        client,
        JobWatcher(
            client,
            policy=args.policy,
            max_concurrency=args.max_concurrency,
            on_status_change=display.event,
            on_error=display.error,
        ) as watcher,
    ):
        with display:
            results = await watcher.wait_all(job_ids, timeout=args.timeout, return_exceptions=True)
            errors = {
                job_id: result
                for job_id, result in zip(job_ids, results, strict=True)
                if not isinstance(result, (Job, JobFailedError))
            }
            for job_id, error in errors.items():
                if display.status[job_id] != "ERROR":  # the overall timeout: no watch said it
                    display.error(job_id, error)
    if errors:
        return EXIT_WATCH_ERROR
    return EXIT_FAILED if any(isinstance(r, JobFailedError) for r in results) else EXIT_OK


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        return serve_simulator(argv[1:], out=out, prog="evs-job-watch simulate")
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            if args.speed <= 0 or args.jobs < 0:
                raise ConfigError("--speed must be positive and --jobs not negative")
            plan = DemoPlan(
                speed=args.speed, seed=args.seed, singles=args.jobs, faults=not args.no_faults
            )
            return asyncio.run(run_demo(plan, out))
        return asyncio.run(_connect_and_watch(args, out))
    except (ConfigError, ValueError, ImportError) as exc:
        print(f"evs-job-watch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EvsJobWatchError as exc:  # IAM could not be reached or refused the password
        print(f"evs-job-watch: error: {exc}", file=sys.stderr)
        return EXIT_WATCH_ERROR
