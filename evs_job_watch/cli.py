"""The ``evs-job-watch`` command line: ``demo``, ``watch`` and ``simulate``.

Exit codes of ``watch``: 0 every job succeeded, 1 some failed, 2 usage or
configuration error, 3 a watch error (timeout, not found, authentication, API),
129/130/143 stopped by SIGHUP/SIGINT/SIGTERM, 141 stdout closed by its reader.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from ._api._client import EvsJobClient
from ._api._environment import KEY_PAIRS
from ._cli._args import (
    EXIT_USAGE,
    OneLineParser,
    UsageError,
    non_negative_int,
    positive_int,
    positive_number,
    positive_seconds,
    redis_url,
    seconds_or_none,
    shown,
)
from ._cli._demo import DemoPlan, run_demo
from ._cli._input import job_ids_from
from ._cli._log import LEVELS, log_level, logging_to_stderr
from ._cli._run import EXIT_WATCH_ERROR, Session, say
from ._cli._watch import WatchOptions, watch_jobs
from ._errors import EvsJobWatchError
from ._policy import PollPolicy
from ._version import __version__
from ._wire._regions import PROVIDERS
from .simulator import main as simulate

__all__ = ["main"]

_DEMO = DemoPlan()
_TIMEOUT = 600.0  # watch --timeout: seconds for all jobs together
_POLICY = PollPolicy()


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="evs-job-watch", description="Watch Elastic Volume Service jobs until they end."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    logs = OneLineParser(add_help=False)
    logs.add_argument(
        "-v", "--verbose", action="count", default=0, help="log INFO to stderr (-vv: DEBUG)"
    )
    logs.add_argument(
        "--log-level", type=str.lower, choices=LEVELS, help="the evs_job_watch logger's level"
    )

    demo = commands.add_parser(
        "demo", parents=[logs], help="watch a fleet of jobs on the embedded simulator"
    )
    demo.add_argument(
        "--speed", type=positive_number, default=_DEMO.speed, help="simulated seconds per second"
    )
    demo.add_argument("--seed", type=int, default=_DEMO.seed)
    demo.add_argument(
        "--jobs", type=non_negative_int, default=_DEMO.singles, help="single-disk creates"
    )
    demo.add_argument("--no-faults", action="store_true", help="a well-behaved API")
    demo.add_argument(
        "--replicas",
        type=positive_int,
        default=1,
        help="replicas sharing the jobs in Redis (extra: redis)",
    )
    demo.add_argument(
        "--redis-url",
        type=redis_url,
        help="with --replicas: a Redis to use (default: start a private one)",
    )

    watch = commands.add_parser(
        "watch",
        parents=[logs],
        help="watch jobs on a real endpoint",
        description=(
            "Credentials come from the environment: OS_AUTH_TOKEN, else an access key "
            "pair (" + ", ".join(f"{a}/{s}" for a, s, _ in KEY_PAIRS) + "), else "
            "OS_USERNAME/OS_PASSWORD; or from clouds.yaml with --os-cloud (OS_CLOUD). "
            "Exit codes: 0 all succeeded, 1 some failed, 2 usage, 3 watch error, "
            "129/130/143 stopped by SIGHUP/SIGINT/SIGTERM, 141 stdout closed. "
            "--cloud names the provider (otc or huawei); --os-cloud names a clouds.yaml "
            "entry (EvsJobClient.from_environment's cloud= argument)."
        ),
    )
    watch.add_argument(
        "job_ids", nargs="*", metavar="JOB_ID", help="job ids; - reads them from stdin"
    )
    watch.add_argument(
        "--from-file",
        action="append",
        default=[],
        metavar="PATH",
        help="read job ids from a file, one a line (# comments and blank lines skipped)",
    )
    where = watch.add_mutually_exclusive_group()
    where.add_argument("--endpoint", help="e.g. https://evs.eu-de.otc.t-systems.com")
    where.add_argument("--region", help="e.g. eu-de (with --cloud); default $OS_REGION_NAME")
    watch.add_argument("--cloud", choices=PROVIDERS, help="the provider: otc (default) or huawei")
    watch.add_argument(
        "--os-cloud", help="the clouds.yaml entry (not the provider); default $OS_CLOUD"
    )
    watch.add_argument("--service", choices=("evs", "ecs"), default="evs", help="job API")
    watch.add_argument("--project-id", help="default $OS_PROJECT_ID")
    watch.add_argument(
        "--timeout",
        type=seconds_or_none,
        default=_TIMEOUT,
        help=f"seconds for all jobs together (default: {_TIMEOUT:g}; inf: no limit)",
    )
    watch.add_argument(
        "--interval", type=positive_seconds, default=_POLICY.interval, help="first poll delay (s)"
    )
    watch.add_argument(
        "--max-interval", type=positive_seconds, default=_POLICY.max_interval, help="seconds"
    )
    watch.add_argument("--max-concurrency", type=positive_int, default=64)
    watch.add_argument("--json", action="store_true", help="one JSON object per event")
    watch.add_argument(
        "-q", "--quiet", action="store_true", help="print only the failed jobs and errors"
    )
    watch.add_argument("--fail-fast", action="store_true", help="stop at the first job that fails")
    watch.add_argument(
        "--ready", action="store_true", help="a job ends once its disks are usable (ready mode)"
    )

    # Listed for --help only: main() hands "simulate ..." to the simulator's own parser.
    commands.add_parser("simulate", help="serve the EVS simulator (see: simulate --help)")
    return parser


async def _client_from(args: argparse.Namespace, env: Mapping[str, str]) -> EvsJobClient:
    return await EvsJobClient.from_environment(
        args.os_cloud,
        service=args.service,
        provider=args.cloud,
        region=args.region,
        endpoint=args.endpoint,
        project_id=args.project_id,
        environ=env,
    )


async def _connect_and_watch(
    session: Session, args: argparse.Namespace, options: WatchOptions
) -> int:
    try:
        client = await _client_from(args, os.environ)
    except (ValueError, ImportError) as exc:
        raise _explained(args, exc) from None
    except EvsJobWatchError as exc:  # IAM could not be reached or refused the password
        say(f"error: {exc}")
        return EXIT_WATCH_ERROR
    return await watch_jobs(session, client, options)


def _watch_options(args: argparse.Namespace, stdin: TextIO | None) -> WatchOptions:
    if args.max_interval < args.interval:
        raise UsageError(
            f"--max-interval ({args.max_interval:g}) must not be smaller than "
            f"--interval ({args.interval:g})"
        )
    return WatchOptions(
        job_ids=job_ids_from(args.job_ids, args.from_file, stdin),
        timeout=args.timeout,
        policy=PollPolicy(interval=args.interval, max_interval=args.max_interval),
        max_concurrency=args.max_concurrency,
        json_lines=args.json,
        quiet=args.quiet,
        ready=args.ready,
        fail_fast=args.fail_fast,
    )


def _explained(args: argparse.Namespace, error: Exception) -> UsageError:
    """A library ValueError about the endpoint or project, told with the flag it came from."""
    message = str(error)
    if message.startswith("endpoint") and args.endpoint:
        flag = f"--endpoint {shown(args.endpoint)}"
        if args.endpoint.startswith("http://"):
            try:  # the same URL is fine but for its scheme: say so without library terms
                EvsJobClient(args.endpoint, "p", allow_insecure_http=True)
            except ValueError:
                pass
            else:
                message = "must use https:// (http:// only to a loopback host)"
        return UsageError(f"{flag}: {message}")
    if "project id" in message:
        return UsageError(f"--project-id (or $OS_PROJECT_ID): {message}")
    return UsageError(message)


def _replicas_demo(args: argparse.Namespace, out: TextIO) -> int:
    try:  # the optional extra: imported only here
        from .redis._demo import ReplicasPlan, run_replicas_demo
    except ImportError as exc:
        raise UsageError(f"--replicas needs the redis extra ({exc.name} is missing)") from None
    plan = ReplicasPlan(args.replicas, args.jobs, args.speed, args.seed, args.redis_url)
    return Session(out).run(lambda session: run_replicas_demo(plan, session))


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    stdout = out if out is not None else sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["simulate"]:
            return simulate(argv[1:], out=stdout, prog="evs-job-watch simulate")
        args = _parser().parse_args(argv)
        with logging_to_stderr(log_level(args.verbose, args.log_level)):
            if args.command == "demo":
                if args.redis_url is not None and args.replicas < 2:
                    raise UsageError(
                        "--redis-url goes with --replicas N (2 or more): one replica needs no Redis"
                    )
                if args.replicas > 1:
                    return _replicas_demo(args, stdout)
                plan = DemoPlan(
                    speed=args.speed, seed=args.seed, singles=args.jobs, faults=not args.no_faults
                )
                return Session(stdout).run(lambda session: run_demo(plan, session))
            options = _watch_options(args, sys.stdin)
            return Session(stdout).run(lambda session: _connect_and_watch(session, args, options))
    except UsageError as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except SystemExit as exc:  # argparse: a usage error (said already), --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C while reading stdin or starting up
        return 130
