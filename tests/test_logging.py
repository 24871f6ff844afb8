"""What the watcher logs: a DEBUG line per poll, INFO for retries, throttling and resumes,
WARNING when a watch gives up; job ids and error codes as structured fields."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from evs_job_watch import AuthenticationError, JobWatcher, ServerError, ThrottledError

from .scripted import FAST, ScriptedClient, make_job

pytestmark = pytest.mark.virtual_clock


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "evs_job_watch" and r.levelno == level]


async def test_each_poll_is_a_debug_line_with_the_job_and_its_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"), make_job("j", "SUCCESS"))
    with caplog.at_level(logging.DEBUG, logger="evs_job_watch"):
        async with JobWatcher(client, policy=FAST) as watcher:
            await watcher.wait("j")
    polls = records(caplog, logging.DEBUG)
    assert [(r.job_id, r.status) for r in polls] == [("j", "RUNNING"), ("j", "SUCCESS")]  # type: ignore[attr-defined]
    assert "job j is SUCCESS" in polls[-1].getMessage()


async def test_retries_and_throttling_are_info_and_giving_up_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = ScriptedClient()
    client.script(
        "j",
        ServerError("down", status=503, code="EVS.5503", job_id="j"),
        ThrottledError("slow down", status=429, code="APIG.0308", job_id="j", retry_after=1),
        AuthenticationError("token expired", status=401, code="EVS.5401", job_id="j"),
    )
    with caplog.at_level(logging.INFO, logger="evs_job_watch"):
        async with JobWatcher(client, policy=FAST) as watcher:
            with pytest.raises(AuthenticationError):
                await watcher.wait("j")
    info = records(caplog, logging.INFO)
    # One line per 429: the watch retries at its turn, the watcher pauses for Retry-After.
    assert [r.error_code for r in info] == ["EVS.5503", "APIG.0308"]  # type: ignore[attr-defined]
    assert "retrying in" in info[0].getMessage()
    assert "pausing for 1.0 s" in info[1].getMessage()
    (gave_up,) = records(caplog, logging.WARNING)
    assert (gave_up.job_id, gave_up.error_code) == ("j", "EVS.5401")  # type: ignore[attr-defined]
    assert "gives up" in gave_up.getMessage()


async def test_a_resume_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    client = ScriptedClient()
    client.script("j", make_job("j", "RUNNING"))
    async with JobWatcher(client, policy=FAST) as first:
        first.watch("j")
        snapshot = first.snapshot()
    with caplog.at_level(logging.INFO, logger="evs_job_watch"):
        async with JobWatcher(client, policy=FAST, resume=snapshot):
            pass
    assert any("resumed 1 watch" in r.getMessage() for r in records(caplog, logging.INFO))


def test_an_application_that_configures_no_logging_sees_nothing_on_stderr() -> None:
    # Python's last-resort handler prints a WARNING of a logger with no handler at all.
    script = (
        "import logging, evs_job_watch\n"
        "logging.getLogger('evs_job_watch').warning('watch of job j gives up')\n"
        "print('ran')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")
    handlers = logging.getLogger("evs_job_watch").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)


def test_the_library_logger_still_reaches_the_applications_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        logging.getLogger("evs_job_watch").warning("watch of job j gives up")
    assert [r.getMessage() for r in caplog.records] == ["watch of job j gives up"]
