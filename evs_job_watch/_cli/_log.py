"""``--verbose`` and ``--log-level``: the library's ``evs_job_watch`` logger, on stderr.

See docs/logging.md for what the logger says at each level and the ``extra=`` fields its
records carry (``job_id``, ``error_code``); no record carries a credential.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

__all__ = ["LEVELS", "LOGGER", "log_level", "logging_to_stderr"]

LOGGER = "evs_job_watch"
LEVELS = ("debug", "info", "warning", "error")
_FIELDS = ("job_id", "error_code")  # the extra= fields worth a place on the line


def log_level(verbose: int, name: str | None) -> int:
    """``--log-level`` if given, else ERROR, INFO for ``-v``, DEBUG for ``-vv``.

    Not WARNING by default: the watches that give up (the library's warnings) are in the
    command's own report already, once each.
    """
    if name is not None:
        return int(logging.getLevelName(name.upper()))
    return (logging.ERROR, logging.INFO)[verbose] if verbose < 2 else logging.DEBUG


class _Formatter(logging.Formatter):
    """``12:00:01 INFO evs_job_watch: message job_id=... error_code=...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [
            f"{name}={value}"
            for name in _FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        return " ".join([text, *fields])


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time, so that the live view (which
    redirects stderr while it runs) shows log lines above itself; silent without stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr
        if stream is None:
            return
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except OSError:
            pass  # stderr closed under us: nowhere left to say anything
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def logging_to_stderr(level: int) -> Iterator[None]:
    """Send the ``evs_job_watch`` logger's records of ``level`` and up to stderr.

    The logger's level, handlers and propagation are restored afterwards, so a program
    that calls ``main()`` keeps its own logging set-up.
    """
    logger = logging.getLogger(LOGGER)
    saved = (logger.level, logger.propagate)
    handler = _StderrHandler(level)
    handler.setFormatter(_Formatter())
    logger.setLevel(level)
    logger.propagate = False  # one line per record, in this format, whatever root has
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
