"""The ``evs-job-watch`` command line: ``demo``, ``watch`` and ``simulate``.

Exit codes of ``watch``: 0 every job succeeded, 1 some failed, 2 usage or
configuration error, 3 a watch error (timeout, not found, authentication, API).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from . import simulator
from ._auth import AkSkAuth, Auth, TokenAuth
from ._client import EvsJobClient
from ._demo import DemoPlan, run_demo
from ._display import choose_display
from ._errors import AuthenticationError, JobFailedError
from ._models import Job
from ._policy import PollPolicy
from ._validate import check_id
from ._version import __version__
from ._watcher import JobWatcher

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WATCH_ERROR = 0, 1, 2, 3

_CLOUDS = {
    "otc": "https://evs.{region}.otc.t-systems.com",
    "huawei": "https://evs.{region}.myhuaweicloud.com",
}
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*", re.ASCII)
# Access key pairs, in the order they are looked for, after OS_AUTH_TOKEN.
_KEY_PAIRS = (
    ("OS_ACCESS_KEY", "OS_SECRET_KEY"),
    ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"),
    ("CLOUD_SDK_AK", "CLOUD_SDK_SK"),
)
_PROJECT_VARS = ("OS_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID")
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
    demo.add_argument(
        "--replicas", type=int, default=1, help="replicas sharing the jobs in Redis (extra: redis)"
    )
    demo.add_argument("--redis-url", help="with --replicas: a Redis to use (default: start one)")

    watch = commands.add_parser(
        "watch",
        help="watch jobs on a real endpoint",
        description=(
            "Credentials come from the environment: OS_AUTH_TOKEN, else an access key "
            "pair (" + ", ".join(f"{a}/{s}" for a, s in _KEY_PAIRS) + "). "
            "Exit codes: 0 all succeeded, 1 some failed, 2 usage, 3 watch error."
        ),
    )
    watch.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    where = watch.add_mutually_exclusive_group()
    where.add_argument("--endpoint", help="e.g. https://evs.eu-de.otc.t-systems.com")
    where.add_argument("--region", help="e.g. eu-de (with --cloud); default $OS_REGION_NAME")
    watch.add_argument("--cloud", choices=sorted(_CLOUDS), default="otc")
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


def _auth_from(env: Mapping[str, str]) -> Auth:
    token = env.get("OS_AUTH_TOKEN")
    if token:
        try:
            return TokenAuth(token)
        except AuthenticationError as exc:
            raise ConfigError(f"OS_AUTH_TOKEN: {exc.message}") from None
    for access_name, secret_name in _KEY_PAIRS:
        access, secret = env.get(access_name), env.get(secret_name)
        if access and secret:
            return AkSkAuth(access, secret)
    names = ", ".join(f"{a} and {s}" for a, s in _KEY_PAIRS)
    raise ConfigError(f"no credentials: set OS_AUTH_TOKEN, or one of {names}")


def _endpoint_from(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    if args.endpoint:
        return str(args.endpoint)
    region = args.region or env.get("OS_REGION_NAME")
    if not region:
        raise ConfigError("give --endpoint, or --region (or set OS_REGION_NAME)")
    if not _REGION.fullmatch(region):
        raise ConfigError(f"invalid region {region!r}")
    return _CLOUDS[args.cloud].format(region=region)


def _client_from(args: argparse.Namespace, env: Mapping[str, str]) -> EvsJobClient:
    project_id = args.project_id or next((env[v] for v in _PROJECT_VARS if env.get(v)), None)
    if not project_id:
        raise ConfigError("give --project-id (or set OS_PROJECT_ID)")
    for job_id in args.job_ids:
        check_id(job_id)
    if not (args.timeout > 0 and args.max_concurrency > 0):
        raise ConfigError("--timeout and --max-concurrency must be positive")
    args.policy = PollPolicy(interval=args.interval, max_interval=args.max_interval)
    return EvsJobClient(_endpoint_from(args, env), project_id, auth=_auth_from(env))


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


def _replicas_demo(args: argparse.Namespace, out: TextIO) -> int:
    try:  # the optional extra: imported only here
        from .redis._demo import run_replicas_demo
    except ImportError as exc:
        raise ConfigError(f"--replicas needs the redis extra ({exc.name} is missing)") from None
    demo = run_replicas_demo(args.replicas, args.jobs, args.speed, args.seed, args.redis_url, out)
    return asyncio.run(demo)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        return simulator.main(argv[1:], out=out, prog="evs-job-watch simulate")
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            if args.speed <= 0 or args.jobs < 0 or args.replicas < 1:
                raise ConfigError("--speed and --replicas must be positive, --jobs not negative")
            if args.replicas > 1:
                return _replicas_demo(args, out)
            plan = DemoPlan(
                speed=args.speed, seed=args.seed, singles=args.jobs, faults=not args.no_faults
            )
            return asyncio.run(run_demo(plan, out))
        client = _client_from(args, os.environ)
        return asyncio.run(_watch(args, client, out))
    except (ConfigError, ValueError) as exc:
        print(f"evs-job-watch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
