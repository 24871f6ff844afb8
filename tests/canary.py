"""The canary machinery of the secrets tests: the canary, an ``Exposure`` that gathers
everything a secret could leak into and searches it, and the tours every credential takes
(every error answer, every way a watch ends, the command line).

Shared by ``test_secrets.py`` and ``test_secrets_credentials.py``; the ``exposure`` and
``clean_env`` fixtures live in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from evs_job_watch import EvsJobClient, EvsJobWatchError, JobEvent, JobWatcher, PollPolicy
from evs_job_watch._credentials._auth import Auth
from evs_job_watch.cli import main
from evs_job_watch.simulator import EvsSimulator, Reply

CANARY = "SECRET-CANARY-5f1e"
LOGGERS = (
    "",
    "evs_job_watch",
    "aiohttp",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "asyncio",
)
SERVICE_LOGGER = "tests.service"  # the caller's own logging, in on_error
BUDGET = 3
FAST = PollPolicy(
    interval=0.01, max_interval=0.02, jitter=0, max_consecutive_errors=BUDGET, not_found_grace=0.05
)
DEADLINE = 30.0
HTML = b"<html><body>502 Bad Gateway</body></html>"

# Every error answer the simulator can give the job query, each met with a good credential.
ERROR_ANSWERS: dict[str, list[Reply]] = {
    "500": [Reply(status=500)],
    "503": [Reply(status=503)],
    "429": [Reply(status=429, headers={"Retry-After": "1"})],
    "404": [Reply(status=404)],
    "400 not found": [Reply(status=400)],
    "403": [Reply(status=403)],
    "409 empty": [Reply(status=409, body=b"")],
    "redirect": [Reply(status=302, body=b"", headers={"Location": "/elsewhere"})],
    "html": [Reply(status=200, body=HTML, content_type="text/html")],
    "error in a 200": [Reply(status=200, body={"error": {"code": "EVS.1", "message": "no"}})],
    "another job": [Reply(status=200, body={"job_id": "f" * 32, "status": "RUNNING"})],
    "over the cap": [Reply(status=200, body=b'{"pad": "' + b"x" * (1024 * 1024) + b'"}')],
    # aiohttp's own errors: a parse error carries the request (and its headers) with it.
    "over-long header": [Reply(headers={"X-Padding": "x" * 20_000})],
    "undecodable gzip": [Reply(status=200, body=b"x", headers={"Content-Encoding": "gzip"})],
    "dropped": [Reply(drop=True), Reply(drop=True)],  # two: aiohttp retries a reused one
}


class Exposure:
    """Everything a secret could leak into during one test, searched at the end."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
        self._caplog = caplog
        self._capsys = capsys
        self._texts: list[tuple[str, str]] = []
        self._secrets = {CANARY}
        self.errors = 0

    def show(self, label: str, *objects: object) -> None:
        for obj in objects:
            self._texts += [(f"repr({label})", repr(obj)), (f"str({label})", str(obj))]

    def text(self, label: str, text: str) -> None:
        self._texts.append((label, text))

    def error(self, label: str, error: BaseException) -> None:
        """The error, and every exception it leads to, suppressed contexts included."""
        self.errors += 1
        self._chain(label, error)

    def _chain(self, label: str, error: BaseException) -> None:
        seen: list[BaseException] = []
        pending: list[BaseException | None] = [error]
        while pending:
            current = pending.pop()
            if current is None or any(current is s for s in seen):
                continue
            seen.append(current)
            where = f"{label} / {type(current).__name__} #{len(seen)}"
            self.show(where, current, current.args)
            self.show(f"{where} attributes", *getattr(current, "__dict__", {}).values())
            formatted = traceback.format_exception(type(current), current, current.__traceback__)
            self.text(f"{where} traceback", "".join(formatted))
            pending += [current.__cause__, current.__context__]

    def log_record(self, record: logging.LogRecord) -> None:
        """A log record as any handler could render it (called before any handler)."""
        label = f"log {record.name} {record.levelname} {record.getMessage()[:40]!r}"
        self.text(label, logging.Formatter().format(record))
        self.show(f"{label} args", record.args)
        if record.exc_info and record.exc_info[1] is not None:
            self._chain(f"{label} exc_info", record.exc_info[1])

    def assert_clean(self) -> None:
        self.text("caplog.text", self._caplog.text)  # loggers the tap did not cover
        captured = self._capsys.readouterr()  # read, so that pytest does not print it again
        self.text("stdout", captured.out)
        self.text("stderr", captured.err)
        assert not self.leaks(), self.leaks()

    def also_secret(self, *values: str) -> None:
        """Search for these too: secrets the simulator drew (IAM tokens, temporary keys)."""
        self._secrets.update(value for value in values if value)

    def leaks(self) -> list[str]:
        """Where a secret was found, each with a short redacted excerpt."""
        return [
            f"{self._redact(label)}: {self._excerpt(text, secret)}"
            for label, text in self._texts
            for secret in self._secrets
            if secret in text
        ]

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<SECRET>" if secret != CANARY else "<CANARY>")
        return text

    def _excerpt(self, text: str, secret: str) -> str:
        at = text.index(secret)
        return f"...{self._redact(text[max(0, at - 60) : at + 40])}..."


def _redact(text: str) -> str:
    return text.replace(CANARY, "<CANARY>")


class _Tap(logging.Filter):
    """Shows each record to the exposure, then redacts it for pytest's own log report.

    A logger's filters run before its handlers, so the report pytest prints for a
    failing test never carries the canary, while the search still sees the record whole.
    """

    def __init__(self, exposure: Exposure) -> None:
        super().__init__()
        self._exposure = exposure

    def filter(self, record: logging.LogRecord) -> bool:
        self._exposure.log_record(record)
        text = logging.Formatter().format(record)
        if CANARY in text:
            record.msg, record.args = _redact(text), None
            record.exc_info = record.exc_text = record.stack_info = None
        return True


@contextmanager
def exposed(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[Exposure]:
    """Every logger tapped at DEBUG for the duration (the ``exposure`` fixture's body)."""
    found = Exposure(caplog, capsys)
    tap = _Tap(found)
    names = {*LOGGERS, SERVICE_LOGGER}
    names.update(n for n in logging.root.manager.loggerDict if n.startswith(("aiohttp", "asyncio")))
    loggers = [logging.getLogger(name) for name in sorted(names)]
    for logger in loggers:
        # The root logger by None, as a test's own caplog.set_level names it: by "" its
        # level would be saved twice, the second time as DEBUG, and left so afterwards.
        caplog.set_level(logging.DEBUG, logger=None if logger is logging.root else logger.name)
        logger.addFilter(tap)
    try:
        yield found
    finally:
        for logger in loggers:
            logger.removeFilter(tap)


def user_on_error(exposure: Exposure) -> Callable[[str, BaseException], None]:
    """An ``on_error`` that logs the error with its traceback, as a service would."""
    log = logging.getLogger(SERVICE_LOGGER)

    def on_error(job_id: str, error: BaseException) -> None:
        exposure.error(f"on_error {job_id}", error)
        log.error("watch of %s ended: %r / %s", job_id, error, error, exc_info=error)

    return on_error


async def every_error_answer(
    exposure: Exposure, sim: EvsSimulator, auth: Auth, job_id: str
) -> None:
    """Each error answer once, then one slower than the request timeout."""
    async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
        for name, replies in ERROR_ANSWERS.items():
            sim.inject(job_id, *replies)
            try:  # a token provider turns a 403 into a refresh and a good answer
                exposure.show(f"answer {name} job", await client.get_job(job_id))
            except EvsJobWatchError as exc:
                exposure.error(f"answer {name}", exc)
    sim.inject(job_id, Reply(delay=2.0))
    async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth, timeout=0.2) as hasty:
        with pytest.raises(EvsJobWatchError) as caught:
            await hasty.get_job(job_id)
        exposure.show("hasty client", hasty)
    exposure.error("answer slow", caught.value)
    async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
        for bad_id in ("a/b", "", "x" * 129):
            with pytest.raises(ValueError) as refused:
                await client.get_job(bad_id)
            exposure.error(f"bad id {bad_id[:5]!r}", refused.value)


async def every_watch_ending(
    exposure: Exposure, sim: EvsSimulator, client: EvsJobClient, state_path: Path
) -> None:
    """Success, failure, sub-jobs, timeout, error budget, not found, closed; all recorded."""
    events: list[JobEvent] = []
    ok = sim.add_job(timeline=[(0, "INIT"), (1, "RUNNING"), (2, "SUCCESS")])
    failed = sim.add_job(timeline=[(0, "RUNNING"), (1, "FAIL")], fail=("EVS.2024", "no host"))
    batch = sim.add_job(sub_jobs=[[(0, "RUNNING"), (1, "SUCCESS")], [(0, "INIT"), (2, "FAIL")]])
    stuck = [sim.add_job(timeline=[(0, "RUNNING")]) for _ in range(3)]
    sim.inject(stuck[1], *[Reply(status=503)] * BUDGET)
    async with JobWatcher(
        client,
        policy=FAST,
        on_status_change=events.append,
        on_complete=events.append,
        on_fail=events.append,
        on_error=user_on_error(exposure),
        state_path=state_path,
    ) as watcher:
        stream = watcher.events()
        left_open = watcher.watch(stuck[2])
        results = await asyncio.wait_for(
            watcher.wait_all(
                [ok, failed, batch, stuck[1], "0" * 32], timeout=DEADLINE, return_exceptions=True
            ),
            DEADLINE,
        )
        timed_out = watcher.watch(stuck[0], timeout=0.1)
        with pytest.raises(EvsJobWatchError) as timeout:
            await asyncio.wait_for(timed_out, DEADLINE)
        await asyncio.sleep(0.05)  # a few polls of the watch left open, for the state file
        exposure.show("watcher", watcher, watcher.stats, watcher.policy, watcher.snapshot())
        exposure.show("handles", left_open, timed_out, left_open.latest)
    with pytest.raises(EvsJobWatchError) as closed:
        await left_open
    buffered = [event async for event in stream]
    exposure.show("closed watcher", watcher, stream)
    exposure.show("results", *results)
    for n, result in enumerate(results):
        if isinstance(result, BaseException):
            exposure.error(f"result #{n}", result)
    exposure.error("timeout", timeout.value)
    exposure.error("closed", closed.value)
    exposure.show("events", *events, *buffered, *(e.job for e in events))
    exposure.text("state file", state_path.read_text())
    assert {type(r).__name__ for r in results} == {
        "Job",
        "JobFailedError",
        "ServerError",
        "JobNotFoundError",
    }


def run_cli(exposure: Exposure, label: str, *argv: str) -> int | None:
    """The command line run in-process, its output and any crash shown to the exposure."""
    out = io.StringIO()
    try:
        code = main(list(argv), out=out)
    except Exception as exc:  # a crash is a finding of its own; it must not show the secret
        exposure.error(f"{label} crashed", exc)
        code = None
    exposure.text(f"{label} output", out.getvalue())
    return code
