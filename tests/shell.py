"""The real ``evs-job-watch`` process, driven as a shell would: pipes, a terminal, signals.

Nothing here sleeps: a test waits for a line the process prints (with a generous deadline
that only a hung process reaches), then acts.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

DEADLINE = 60.0  # seconds; reached only by a process that hangs


def command(*args: str) -> list[str]:
    """The installed console script (``python -m evs_job_watch`` where there is none)."""
    script = Path(sys.executable).with_name("evs-job-watch")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "evs_job_watch", *args]


class _Collector:
    """Reads one file descriptor to its end in a thread; ``wait_for`` waits for a text."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._data = bytearray()
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:  # a terminal's other side reports EIO once the child is gone
                chunk = b""
            with self._changed:
                if not chunk:
                    self._closed = True
                    self._changed.notify_all()
                    return
                self._data += chunk
                self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return self._data.decode("utf-8", "replace")

    def wait_for(self, text: str) -> str:
        with self._changed:
            found = self._changed.wait_for(
                lambda: text in self._data.decode("utf-8", "replace") or self._closed, DEADLINE
            )
            seen = self._data.decode("utf-8", "replace")
        assert found and text in seen, f"never printed {text!r}; printed: {seen[-2000:]!r}"
        return seen

    def join(self) -> str:
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "the stream was never closed"
        return self.text


class Shell:
    """``evs-job-watch ARGS`` with stdout on a pipe or on a terminal, stderr on a pipe."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        terminal: bool = False,
        stdin: bytes | None = None,
        argv: Sequence[str] | None = None,
        read_stdout: bool = True,
    ) -> None:
        self._terminal_fd: int | None = None
        if terminal:
            master, child_side = os.openpty()
            # A real size, or rich would fall back to guesses.
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            stdout: int = child_side
            stdin_arg: int = child_side
            self._terminal_fd = master
        else:
            stdout = subprocess.PIPE
            stdin_arg = subprocess.PIPE if stdin is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            list(argv) if argv is not None else command(*args),
            stdin=stdin_arg,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env={**env, "TERM": "xterm-256color"},
        )
        self.out: _Collector | None = None
        if terminal:
            os.close(child_side)
            assert self._terminal_fd is not None
            self.out = _Collector(self._terminal_fd)
        elif read_stdout:
            assert self.process.stdout is not None
            self.out = _Collector(self.process.stdout.fileno())
        assert self.process.stderr is not None
        self.err = _Collector(self.process.stderr.fileno())
        if stdin is not None and self.process.stdin is not None:
            self.process.stdin.write(stdin)
            self.process.stdin.close()

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def head(self) -> bytes:
        """Read the first line of stdout, then close the pipe as ``head -1`` does.

        Only without a reader thread on stdout: a read blocked in a thread would keep the
        pipe's reading end open.
        """
        assert self.out is None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], DEADLINE)
        assert ready, "nothing on stdout"
        line = self.process.stdout.readline()
        self.process.stdout.close()
        return line

    def finish(self) -> tuple[int, str, str]:
        """Wait for the exit; the exit code, all of stdout (if read) and all of stderr."""
        try:
            code = self.process.wait(DEADLINE)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        out = self.out.join() if self.out is not None else ""
        return code, out, self.err.join()

    def __enter__(self) -> Shell:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._terminal_fd is not None:
            os.close(self._terminal_fd)
        for stream in (self.process.stdout, self.process.stderr, self.process.stdin):
            if stream is not None and not stream.closed:
                stream.close()
