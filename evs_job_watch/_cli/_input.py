"""Job ids for ``watch``: from the arguments, from stdin (``-``) and from ``--from-file``.

Every id is checked before any request is made, and a bad one is reported with where it
came from (the argument, or the file and line), so a typo in line 3,000 of a file costs
nothing but the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TextIO

from .._validate import check_id
from ._args import UsageError, shown

__all__ = ["STDIN", "job_ids_from"]

STDIN = "-"
_RULE = "a job id is 1 to 128 of A-Z a-z 0-9 - _"
_LISTED = 3  # bad ids quoted in the message; the rest are counted


def job_ids_from(arguments: Sequence[str], files: Sequence[str], stdin: TextIO | None) -> list[str]:
    """Every job id asked for, in order, each once; raises UsageError naming the bad ones.

    Args:
        arguments: the JOB_ID arguments; ``-`` reads ids from ``stdin`` there.
        files: the ``--from-file`` paths; ``-`` is stdin there too.
        stdin: the standard input, None when it is closed.
    """
    found: list[str] = []
    bad: list[str] = []  # where each bad id came from, and the id
    stdin_read = False
    for position, argument in enumerate(arguments, 1):
        if argument == STDIN:
            stdin_read = _take_stdin(stdin, stdin_read, found, bad)
        elif _is_id(argument):
            found.append(argument)
        else:
            bad.append(f"JOB_ID argument {position} {shown(argument)}")
    for path in files:
        if path == STDIN:
            stdin_read = _take_stdin(stdin, stdin_read, found, bad)
            continue
        try:
            with open(path, encoding="utf-8") as lines:
                _take_lines(lines, f"--from-file {path}", found, bad)
        except OSError as exc:
            raise UsageError(f"--from-file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"--from-file {path}: not UTF-8 text ({exc.reason})") from None
    if bad:
        more = f" and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
        raise UsageError(f"invalid job id in {'; '.join(bad[:_LISTED])}{more} ({_RULE})")
    if not found:
        raise UsageError("no job ids: give JOB_ID arguments, - to read stdin, or --from-file")
    return list(dict.fromkeys(found))


def _take_stdin(stdin: TextIO | None, already: bool, found: list[str], bad: list[str]) -> bool:
    if already:
        raise UsageError("stdin (-) can be read only once")
    if stdin is None:
        raise UsageError("- reads job ids from stdin, but stdin is closed")
    try:
        _take_lines(stdin, "stdin", found, bad)
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin: not UTF-8 text ({exc.reason})") from None
    return True


def _take_lines(lines: Iterable[str], source: str, found: list[str], bad: list[str]) -> None:
    """One id a line; blank lines and ``#`` comments (whole-line or trailing) are skipped."""
    for number, line in enumerate(lines, 1):
        if number == 1:
            line = line.removeprefix("\ufeff")  # a byte order mark (Notepad's UTF-8)
        text = line.split("#", 1)[0].strip()  # an id never holds "#"
        if not text:
            continue
        if _is_id(text):
            found.append(text)
        else:
            bad.append(f"{source} line {number} {shown(text)}")


def _is_id(text: str) -> bool:
    try:
        check_id(text)
    except ValueError:
        return False
    return True
