"""Run the simulator as a standalone server (`python -m evs_job_watch.simulator`).

On start it prints one JSON line with `endpoint`, `project_id`, `token`,
`access_key` and `secret_key`, and the IAM user (`username`, `password`, `domain_name`,
`project_name`; its IAM is at the endpoint too), so a parent process (benchmarks, the CLI's
`simulate` command, a shell script) can connect; it serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import math
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

import orjson

from ._faults import Faults
from ._simulator import EvsSimulator
from ._throttle import add_options, from_args
from ._volumes import add_options as add_quirk_options
from ._volumes import quirks_from_args

__all__ = ["build_parser", "main", "serve", "simulator_from_args"]

_FAULTS = ("server-error", "throttle", "truncated", "non-json", "drop")


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr (exit 2): the flag and what is wrong with it."""

    def error(self, message: str) -> NoReturn:
        _fail(self.prog, f"{message} (see {self.prog} --help)")


def _fail(prog: str, message: str) -> NoReturn:
    """Say ``message`` in one line on stderr (if there is one), exit 2."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError):
            sys.stderr.write(f"{prog}: error: {message}\n")
            sys.stderr.flush()
    raise SystemExit(2)


def _number(low: float, high: float = math.inf, *, low_open: bool = False) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (low < value if low_open else low <= value) or not value <= high:
            above = f"above {low:g}" if low_open else f"from {low:g}"
            upto = "" if high == math.inf else f" to {high:g}"
            raise argparse.ArgumentTypeError(f"must be a number {above}{upto}, got {text}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535 (0: any free port), got {text}")
    return value


def _loopback(text: str) -> str:
    host = "127.0.0.1" if text == "localhost" else text
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise argparse.ArgumentTypeError(
            f"the simulator listens on loopback only (127.0.0.1, ::1 or localhost), not {text!r}"
        )
    return host


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return value


def build_parser(prog: str = "python -m evs_job_watch.simulator") -> argparse.ArgumentParser:
    """The command line options (reusable by the `evs-job-watch simulate` command)."""
    parser = _Parser(prog=prog, description="Serve a simulated EVS job API.")
    add = parser.add_argument
    probability = _number(0.0, 1.0)
    seconds = _number(0.0)
    add("--host", type=_loopback, default="127.0.0.1", help="a loopback address or localhost")
    add("--port", type=_port, default=0, help="0 picks a free port (default)")
    add("--speed", type=_number(0.0, low_open=True), default=1.0, help="simulated s per second")
    add("--seed", type=int, default=0)
    add("--failure-rate", type=probability, default=0.0, help="probability a job ends in FAIL")
    add("--invisible-for", type=seconds, default=0.0, help="simulated s a new job is not found")
    add("--project-id")
    add("--token")
    add("--access-key")
    add("--secret-key")
    add("--keep-requests", type=_count, default=10_000, help="request records kept in memory")
    faults = parser.add_argument_group("faults on the job query (probabilities)")
    for name in _FAULTS:
        faults.add_argument(f"--{name}", type=probability, default=0.0)
    faults.add_argument("--retry-after-share", type=probability, default=0.5)
    faults.add_argument("--retry-after", type=seconds, default=1.0, help="seconds")
    faults.add_argument("--latency", type=seconds, nargs=2, metavar=("MIN", "MAX"), help="seconds")
    add_options(parser)
    add_quirk_options(parser)
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
        quirks=quirks_from_args(args),
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
        "username": simulator.identity.username,
        "password": simulator.identity.password,
        "domain_name": simulator.identity.domain_name,
        "project_name": simulator.identity.project_name,
    }
    if out is not None:  # no stdout (>&-): serve all the same
        with contextlib.suppress(OSError):  # nor does a reader that went away stop it
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
        parser.error(_flagged(str(exc)))
    try:
        asyncio.run(_serve_until_signalled(simulator, out))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _fail(prog, f"argument --port: {args.port} is in use on {args.host}")
        _fail(
            prog,
            f"argument --host/--port: cannot listen on {args.host}:{args.port}: "
            f"{exc.strerror or exc}",
        )
    return 0


def _flagged(message: str) -> str:
    """A simulator ValueError, told with the flag it came from."""
    if "fault probabilities" in message:
        flags = "/".join(f"--{name}" for name in _FAULTS)
        return f"argument {flags}: {message}"
    name = message.split(" ", 1)[0]
    return f"argument --{name.replace('_', '-')}: {message}" if name.isidentifier() else message
