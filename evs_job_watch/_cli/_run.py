"""How a command run ends, as shell tools end: by itself, by a signal, or by a closed pipe.

SIGINT, SIGTERM and SIGHUP stop the polling and end the run with 128 + the signal's
number (130, 143, 129) after one summary line; a second one ends the process at once. A
stdout whose reader went away (``| head -1``) ends the run quietly with 141, as if by
SIGPIPE, whether it is noticed on a write or while nothing is being written. A missing
stdout (``>&-``) is no error: the output goes nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import signal
import stat
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TextIO

from ._report import Tally

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_WATCH_ERROR",
    "Output",
    "Session",
    "say",
]

EXIT_OK, EXIT_FAILED, EXIT_WATCH_ERROR = 0, 1, 3
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE
BROKEN_PIPE = "broken pipe"
_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def say(line: str) -> None:
    """Write one line to stderr, if there is a stderr to write to."""
    if sys.stderr is None:
        return
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"evs-job-watch: {line}\n")
        sys.stderr.flush()


def _is_broken_pipe(exc: BaseException) -> bool:
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == errno.EPIPE
    )


class Output:
    """The command's stdout: writes that survive a closed or missing stdout.

    After the first write that finds the reader gone, ``on_broken`` is called once and
    every later write is dropped.
    """

    def __init__(self, stream: TextIO | None, on_broken: Callable[[], None]) -> None:
        self.stream = stream
        self.broken = False
        self._on_broken = on_broken

    def isatty(self) -> bool:
        """Whether stdout is a terminal (False when it is missing)."""
        if self.stream is None:
            return False
        with contextlib.suppress(OSError, ValueError):
            return self.stream.isatty()
        return False

    def write(self, text: str) -> None:
        """Write and flush ``text``; a broken pipe ends the run instead of raising."""
        with self.guard():
            if self.stream is not None and not self.broken:
                self.stream.write(text)
                self.stream.flush()

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a broken pipe inside the block (e.g. a rich Console's print) into a stop."""
        try:
            yield
        except OSError as exc:
            if not _is_broken_pipe(exc):
                raise
            self._broke()

    def watch_reader(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Notice a pipe's reader going away while nothing is written; returns an undo.

        The write end of a pipe reports an error condition once its reader is closed: the
        loop is asked to call back on it, so no timer polls. Other kinds of stdout
        (terminals, files, sockets) are left alone.
        """
        fd = self._fileno()
        if fd is None or not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return lambda: None

        def check() -> None:
            poller = select.poll()
            poller.register(fd, select.POLLERR | select.POLLHUP)
            if poller.poll(0):
                loop.remove_reader(fd)
                self._broke()

        try:
            loop.add_reader(fd, check)
        except (OSError, NotImplementedError, ValueError):
            return lambda: None

        def undo() -> None:
            loop.remove_reader(fd)

        return undo

    def close(self) -> None:
        """Flush; once the pipe broke, point stdout at /dev/null for the exit-time flush."""
        if self.stream is None:
            return
        with self.guard():
            self.stream.flush()
        if self.broken:
            fd = self._fileno()
            if fd is not None:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)

    def _fileno(self) -> int | None:
        if self.stream is None:
            return None
        try:
            return self.stream.fileno()
        except (OSError, ValueError, AttributeError):
            return None  # not a real file (a StringIO in tests)

    def _broke(self) -> None:
        if not self.broken:
            self.broken = True
            self._on_broken()


class Session:
    """One run of a command: its output, and why it stopped if it did not end by itself.

    ``stop`` cancels what ``stoppable`` registered (the wait for the jobs), or else the
    whole command; the command then reports what it saw and returns its exit code, which
    a signal or a broken pipe overrides.
    """

    def __init__(self, stdout: TextIO | None) -> None:
        self.output = Output(stdout, lambda: self.stop(BROKEN_PIPE, EXIT_BROKEN_PIPE))
        self.stopped: str | None = None
        self.tally: Tally | None = None  # for the summary line of a stopped run
        self._code: int | None = None
        self._task: asyncio.Future[int] | None = None
        self._target: asyncio.Future[Any] | None = None

    def stop(self, reason: str, code: int | None = None) -> None:
        """Stop the run (the first reason wins); ``code`` overrides the command's."""
        if self.stopped is not None:
            return
        self.stopped, self._code = reason, code
        target = self._target if self._target is not None else self._task
        if target is not None:
            target.cancel()

    @contextlib.contextmanager
    def stoppable(self, future: asyncio.Future[Any]) -> Iterator[None]:
        """Inside the block, a stop cancels ``future`` rather than the whole command."""
        self._target = future
        try:
            if self.stopped is not None:
                future.cancel()
            yield
        finally:
            self._target = None

    def run(self, command: Callable[[Session], Awaitable[int]]) -> int:
        """Run ``command`` to its end and return the exit code."""
        try:
            code = asyncio.run(self._main(command))
        except KeyboardInterrupt:  # Ctrl-C before the loop's handlers were in place
            self.stopped, code = "SIGINT", 128 + signal.SIGINT
        self.output.close()
        if self.output.broken:
            return EXIT_BROKEN_PIPE
        return code

    async def _main(self, command: Callable[[Session], Awaitable[int]]) -> int:
        loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(command(self))
        installed = []
        for signum in _SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._on_signal, loop, signum)
                installed.append(signum)
        unwatch = self.output.watch_reader(loop)
        try:
            code = await self._task
        except asyncio.CancelledError:
            if self.stopped is None:
                raise
            code = EXIT_WATCH_ERROR
        finally:
            unwatch()
            for signum in installed:
                loop.remove_signal_handler(signum)
        if self.stopped is not None and self.stopped != BROKEN_PIPE:
            tally = self.tally
            say(tally.stopped_line(self.stopped) if tally else f"stopped by {self.stopped}")
        return self._code if self._code is not None else code

    def _on_signal(self, loop: asyncio.AbstractEventLoop, signum: int) -> None:
        name = signal.Signals(signum).name
        self.stop(name, 128 + signum)
        # A second signal of the same kind ends the process at once, as people expect
        # when a shutdown seems stuck.
        loop.add_signal_handler(signum, os._exit, 128 + signum)
