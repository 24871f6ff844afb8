"""Run the simulator as a standalone server (`python -m evs_job_watch.simulator`).

On start it prints one JSON line with `endpoint`, `project_id`, `token`,
`access_key` and `secret_key`, so a parent process (benchmarks, the CLI's
`simulate` command, a shell script) can connect; it serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

import orjson

from ._faults import Faults
from ._simulator import EvsSimulator
from ._throttle import add_options, from_args

__all__ = ["build_parser", "main", "serve", "simulator_from_args"]


def build_parser(prog: str = "python -m evs_job_watch.simulator") -> argparse.ArgumentParser:
    """The command line options (reusable by the `evs-job-watch simulate` command)."""
    parser = argparse.ArgumentParser(prog=prog, description="Serve a simulated EVS job API.")
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    add("--port", type=int, default=0, help="0 picks a free port (default)")
    add("--speed", type=float, default=1.0, help="simulated seconds per real second")
    add("--seed", type=int, default=0)
    add("--failure-rate", type=float, default=0.0, help="probability a job ends in FAIL")
    add("--invisible-for", type=float, default=0.0, help="simulated s a new job is not found")
    add("--project-id")
    add("--token")
    add("--access-key")
    add("--secret-key")
    add("--keep-requests", type=int, default=10_000, help="request records kept in memory")
    faults = parser.add_argument_group("faults on the job query (probabilities)")
    for name in ("server-error", "throttle", "truncated", "non-json", "drop"):
        faults.add_argument(f"--{name}", type=float, default=0.0)
    faults.add_argument("--retry-after-share", type=float, default=0.5)
    faults.add_argument("--retry-after", type=float, default=1.0, help="seconds")
    faults.add_argument("--latency", type=float, nargs=2, metavar=("MIN", "MAX"), help="seconds")
    add_options(parser)
    return parser


def simulator_from_args(args: argparse.Namespace) -> EvsSimulator:
    """Build an `EvsSimulator` from parsed `build_parser` options."""
    faults = Faults(
        server_error=args.server_error,
        throttle=args.throttle,
        retry_after_share=args.retry_after_share,
        retry_after=args.retry_after,
        latency=tuple(args.latency) if args.latency else None,
        truncated=args.truncated,
        non_json=args.non_json,
        drop=args.drop,
    )
    return EvsSimulator(
        host=args.host,
        port=args.port,
        project_id=args.project_id,
        token=args.token,
        access_key=args.access_key,
        secret_key=args.secret_key,
        speed=args.speed,
        seed=args.seed,
        failure_rate=args.failure_rate,
        faults=faults,
        rate_limit=from_args(args),
        invisible_for=args.invisible_for,
        keep_requests=args.keep_requests,
    )


async def serve(simulator: EvsSimulator, out: TextIO | None = None) -> None:
    """Start, print the connection line to `out` (stdout), serve until cancelled, stop."""
    out = out or sys.stdout
    await simulator.start()
    info = {
        "endpoint": simulator.endpoint,
        "project_id": simulator.project_id,
        "token": simulator.token,
        "access_key": simulator.access_key,
        "secret_key": simulator.secret_key,
    }
    out.write(orjson.dumps(info).decode() + "\n")
    out.flush()
    await simulator.serve_forever()


async def _serve_until_signalled(simulator: EvsSimulator, out: TextIO | None) -> None:
    task = asyncio.ensure_future(serve(simulator, out))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows: Ctrl-C still ends asyncio.run there.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    prog: str = "python -m evs_job_watch.simulator",
) -> int:
    """Parse `argv`, serve until SIGINT/SIGTERM; 0 on a clean stop, 2 on bad options."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        simulator = simulator_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(_serve_until_signalled(simulator, out))
    return 0
