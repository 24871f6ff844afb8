"""The simulator on its own loop in a thread, for code that runs ``asyncio.run`` itself."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from evs_job_watch.cli import main
from evs_job_watch.simulator import EvsSimulator

T = TypeVar("T")
CREDENTIAL_PREFIXES = ("OS_", "HUAWEICLOUD_SDK_", "CLOUD_SDK_")
QUICK = ["--interval", "0.05", "--max-interval", "0.1"]  # watch polls quickly


class ThreadedSimulator:
    """A started simulator in a thread; ``call`` and ``run`` run a function or a coroutine on
    its loop."""

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = EvsSimulator(**options)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return function(*args, **kwargs)

        return self.run(run())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the simulator's loop (a proxy, a server...) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def __enter__(self) -> ThreadedSimulator:
        self._thread.start()
        self.run(self.sim.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def clear_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every credential variable the command line reads."""
    for name in list(os.environ):
        if name.startswith(CREDENTIAL_PREFIXES):
            monkeypatch.delenv(name)


@contextmanager
def signed_in(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Iterator[ThreadedSimulator]:
    """A started simulator whose token and project id are the only credentials set."""
    with ThreadedSimulator(**options) as threaded:
        clear_credentials(monkeypatch)
        monkeypatch.setenv("OS_AUTH_TOKEN", threaded.sim.token)
        monkeypatch.setenv("OS_PROJECT_ID", threaded.sim.project_id)
        yield threaded


def run_watch(threaded: ThreadedSimulator, *args: str) -> tuple[int, str]:
    """``evs-job-watch watch`` in-process against the simulator: exit code and output."""
    out = io.StringIO()
    code = main(["watch", "--endpoint", threaded.sim.endpoint, *QUICK, *args], out=out)
    return code, out.getvalue()
