"""Checks of what callers pass in, in one place: ids, counts and durations.

Each check returns the value it accepted (converted where a duration may be a
``timedelta``) or raises ``ValueError``/``TypeError`` naming what was wrong, so the
client, the watcher, snapshots and the command line refuse bad input the same way.
One rule for durations everywhere: seconds as a number (int or float, not a bool), or a
``timedelta``; anything else is a ``TypeError`` naming the argument.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = [
    "check_id",
    "optional_seconds",
    "positive_int",
    "positive_number",
    "positive_seconds",
    "seconds",
]

# Letters, digits, - and _: nothing that could change the URL a job id is put into.
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}", re.ASCII)


def check_id(value: object, what: str = "job id") -> str:
    """Return ``value`` if it is a safe id (1-128 of ``A-Za-z0-9_-``), else raise ValueError."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        shown = type(value).__name__
        if isinstance(value, str):  # a long id is cut, its closing quote kept
            shown = (
                repr(value) if len(value) <= 60 else f"{value[:60]!r}... ({len(value)} characters)"
            )
        raise ValueError(f"invalid {what} {shown}: expected 1 to 128 of A-Z a-z 0-9 - _")
    return value


def positive_int(value: object, what: str) -> int:
    """Return ``value`` if it is an int above zero (a bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def seconds(value: float | timedelta, what: str = "a duration") -> float:
    """A duration given as seconds or as a timedelta, in seconds (TypeError otherwise)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{what} must be seconds (a number) or a timedelta, got {type(value).__name__}"
        )
    return float(value)


def positive_number(value: object, what: str, unit: str) -> float:
    """A finite number above zero (``unit`` names what it counts, for the message)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{what} must be a positive number of {unit}, got {value!r}")
    return float(value)


def positive_seconds(value: float | timedelta, what: str) -> float:
    """A finite duration above zero, in seconds."""
    return positive_number(seconds(value, what), what, "seconds")


def optional_seconds(value: float | timedelta | None, what: str) -> float | None:
    """None (no limit), or a finite duration above zero, in seconds."""
    return None if value is None else positive_seconds(value, what)
