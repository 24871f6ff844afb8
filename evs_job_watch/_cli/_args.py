"""Argument parsing for the command line: one-line usage errors that name the flag typed."""

from __future__ import annotations

import argparse
import math
import sys
import urllib.parse
from typing import NoReturn

__all__ = [
    "EXIT_USAGE",
    "OneLineParser",
    "UsageError",
    "non_negative_int",
    "positive_int",
    "positive_number",
    "positive_seconds",
    "redis_url",
    "seconds_or_none",
    "shown",
]

EXIT_USAGE = 2
_SHOWN_CHARS = 60


class UsageError(Exception):
    """A problem with the command's arguments, options or environment (exit code 2).

    The message names what the person typed (a flag, an argument, a file and line).
    """


def shown(value: str, limit: int = _SHOWN_CHARS) -> str:
    """``value`` quoted for a message; a long one is cut, its quote kept, its length told."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit code 2.

    argparse prints the whole usage block before the error; a person at a shell wants the
    one line that says what is wrong (``--help`` still shows the usage).
    """

    def error(self, message: str) -> NoReturn:
        line = f"{self.prog}: error: {message} (see {self.prog} --help)\n"
        if sys.stderr is not None:  # stderr may be closed (2>&-): then say nothing
            try:
                sys.stderr.write(line)
                sys.stderr.flush()
            except OSError:
                pass
        raise SystemExit(EXIT_USAGE)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError("nan is not a number of seconds")
    return value


def positive_number(text: str) -> float:
    """A finite number above zero."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds above zero."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def seconds_or_none(text: str) -> float | None:
    """A positive number of seconds, or ``inf`` / ``none`` for no limit (None)."""
    if text.strip().lower() in ("none", "inf", "infinity"):
        return None
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds (or inf for none), got {text}"
        )
    return None if value == math.inf else value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a whole number") from None


def positive_int(text: str) -> int:
    """A whole number of 1 or more."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of 0 or more."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def redis_url(text: str) -> str:
    """A ``redis://``, ``rediss://`` or ``unix://`` URL (never echoed: it may hold a password)."""
    try:
        url = urllib.parse.urlsplit(text)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        url = None
    if url is None or not (
        (url.scheme in ("redis", "rediss") and url.hostname) or (url.scheme == "unix" and url.path)
    ):
        raise argparse.ArgumentTypeError(
            "expected redis://[user:password@]host[:port][/db], rediss://... or "
            "unix:///path (the value is not shown: it may hold a password)"
        )
    return text
