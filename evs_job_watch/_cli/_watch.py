"""``evs-job-watch watch``: watch the given jobs to their end, then list what went wrong."""

from __future__ import annotations

import asyncio
import logging

import attrs

from .._api._client import EvsJobClient
from .._core._events import JobEvent
from .._core._watcher import JobWatcher
from .._errors import JobFailedError
from .._models import Job, JobStatus
from .._policy import PollPolicy
from ._display import choose_display
from ._report import ERROR, Tally
from ._run import Session

__all__ = ["FAIL_FAST", "WatchOptions", "watch_jobs"]

FAIL_FAST = "--fail-fast"
logger = logging.getLogger("evs_job_watch")


@attrs.frozen
class WatchOptions:
    """What ``watch`` was asked to do, checked and resolved from its arguments."""

    job_ids: list[str]
    timeout: float | None
    policy: PollPolicy
    max_concurrency: int
    json_lines: bool = False
    quiet: bool = False
    fail_fast: bool = False
    ready: bool = False


async def watch_jobs(session: Session, client: EvsJobClient, options: WatchOptions) -> int:
    """Watch every job to its end (or until stopped), show the report; the exit code."""
    job_ids = options.job_ids
    tally = session.tally = Tally(job_ids, ready=options.ready)
    display = choose_display(
        tally, session.output, json_lines=options.json_lines, quiet=options.quiet
    )

    def on_status_change(event: JobEvent) -> None:
        display.event(event)
        if options.fail_fast and event.status is JobStatus.FAIL and not event.is_sub_job:
            session.stop(FAIL_FAST)

    def on_error(job_id: str, error: BaseException) -> None:
        display.error(job_id, error)
        if options.fail_fast:
            session.stop(FAIL_FAST)

    async with (
        client,
        JobWatcher(
            client,
            policy=options.policy,
            max_concurrency=options.max_concurrency,
            on_status_change=on_status_change,
            on_complete=display.event if options.ready else None,  # the ready events
            on_error=on_error,
            ready=options.ready,
        ) as watcher,
    ):
        with display:
            wait = asyncio.ensure_future(
                watcher.wait_all(job_ids, timeout=options.timeout, return_exceptions=True)
            )
            logger.info("watching %d jobs at %s", len(job_ids), client.endpoint)
            results: list[Job | BaseException] | None = None
            with session.stoppable(wait):
                try:
                    results = await wait
                except asyncio.CancelledError:
                    if session.stopped is None:  # cancelled from outside: not ours to report
                        raise
            for job_id, result in zip(job_ids, results or [], strict=False):
                # The overall timeout ends the rest, and no watch has said so yet.
                failed = isinstance(result, JobFailedError)
                if (
                    isinstance(result, BaseException)
                    and not failed
                    and tally.status[job_id] != ERROR
                ):
                    display.error(job_id, result)
    display.report(session.stopped)
    return tally.exit_code()
