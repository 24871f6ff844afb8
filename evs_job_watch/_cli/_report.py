"""What happened to each job a command watched, and the report it prints at the end.

The live view keeps only counts and the latest events; this tally keeps every failed job
(with its failed sub-jobs) and every watch error, so the end of a run can list them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._core._events import JobEvent
from .._errors import EvsApiError
from .._models import Job, JobStatus

__all__ = ["ERROR", "NOT_READY", "WAITING", "Tally", "describe_error"]

WAITING = "WAITING"  # not seen yet
ERROR = "ERROR"  # the watch ended with an error
NOT_READY = "SUCCESS, NOT READY"  # ready mode: the job is done, its disks are not usable yet
_ENDED = frozenset({"SUCCESS", "FAIL", ERROR})
_NAMED = 5  # unfinished ids named in the one-line summary


class Tally:
    """The last status of each watched job, its failures and its watch errors."""

    def __init__(self, job_ids: Iterable[str], *, ready: bool = False) -> None:
        self.ready = ready  # ready mode: a SUCCESS ends a job once its ready event came
        self.status: dict[str, str] = dict.fromkeys(job_ids, WAITING)
        self.failed: dict[str, Job] = {}
        self.failed_sub_jobs: dict[str, list[Job]] = {}  # by parent id
        self.errors: dict[str, BaseException] = {}

    def event(self, event: JobEvent) -> None:
        """Record a status change of a job or sub-job."""
        if event.parent is not None:
            if event.status is JobStatus.FAIL:
                self.failed_sub_jobs.setdefault(event.parent.job_id, []).append(event.job)
            return
        done = self.ready and event.status is JobStatus.SUCCESS and not event.ready
        self.status[event.job_id] = NOT_READY if done else event.status.value
        if event.status is JobStatus.FAIL:
            self.failed[event.job_id] = event.job

    def error(self, job_id: str, error: BaseException) -> None:
        """Record a watch that ended with an error."""
        self.status[job_id] = ERROR
        self.errors[job_id] = error

    @property
    def total(self) -> int:
        return len(self.status)

    @property
    def ended(self) -> int:
        """Jobs whose watch is over: SUCCESS, FAIL or a watch error."""
        return sum(1 for status in self.status.values() if status in _ENDED)

    @property
    def succeeded(self) -> int:
        return sum(1 for status in self.status.values() if status == "SUCCESS")

    def unfinished(self) -> list[str]:
        """The jobs still running (or never seen), in the order they were given."""
        return [job_id for job_id, status in self.status.items() if status not in _ENDED]

    def exit_code(self) -> int:
        """3 if any watch ended with an error, else 1 if any job failed, else 0."""
        if self.errors:
            return 3
        return 1 if self.failed else 0

    # -- the report -----------------------------------------------------------------

    def counts(self) -> str:
        """``10 jobs: 7 succeeded, 2 failed, 1 watch error``, with the unfinished if any."""
        errors = len(self.errors)
        text = (
            f"{_plural(self.total, 'job')}: {self.succeeded} succeeded, {len(self.failed)} "
            f"failed, {_plural(errors, 'watch error')}"
        )
        unfinished = len(self.unfinished())
        return text + (f", {unfinished} unfinished" if unfinished else "")

    def stopped_line(self, reason: str) -> str:
        """One line for a run that was stopped: what ended and what was left running."""
        left = self.unfinished()
        named = ", ".join(left[:_NAMED])
        if len(left) > _NAMED:
            named += f" and {len(left) - _NAMED} more"
        text = (
            f"stopped by {reason}: {self.ended} of {_plural(self.total, 'job')} ended "
            f"({self.succeeded} succeeded, {len(self.failed)} failed, "
            f"{_plural(len(self.errors), 'watch error')})"
        )
        return text + (f"; {len(left)} still running: {named}" if left else "")

    def problems(self) -> list[tuple[str, str]]:
        """The failed jobs and watch errors, one ``(kind, line)`` each (kind: FAIL, ERROR)."""
        lines: list[tuple[str, str]] = []
        for job_id, status in self.status.items():
            job = self.failed.get(job_id)
            if job is not None:
                kind = f" {job.job_type.value}" if job.job_type is not None else ""
                lines.append(("FAIL", f"FAIL  {job_id}{kind}{_reason(job)}"))
            elif status == ERROR:
                lines.append(("ERROR", f"ERROR {job_id} {describe_error(self.errors[job_id])}"))
            for sub in self.failed_sub_jobs.get(job_id, ()):
                lines.append(("FAIL", f"      sub-job {sub.job_id}{_reason(sub)}"))
        return lines

    def summary_record(self, stopped: str | None) -> dict[str, Any]:
        """The report as one JSON object (``"event": "summary"``)."""
        return {
            "event": "summary",
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": [
                {
                    **_job_record(job),
                    "sub_jobs": [_job_record(sub) for sub in self.failed_sub_jobs.get(job_id, ())],
                }
                for job_id, job in self.failed.items()
            ],
            "errors": [_error_record(job_id, error) for job_id, error in self.errors.items()],
            "unfinished": self.unfinished(),
            "stopped": stopped,
        }


def describe_error(error: BaseException) -> str:
    """``JobNotFoundError [Common.0011]: query job fail. (HTTP 400)`` and the like."""
    name = type(error).__name__
    if isinstance(error, EvsApiError):
        code = f" [{error.code}]" if error.code else ""
        status = f" (HTTP {error.status})" if error.status is not None else ""
        return f"{name}{code}: {error.message}{status}"
    return f"{name}: {error}"


def _reason(job: Job) -> str:
    code = f" [{job.error_code}]" if job.error_code else ""
    return f"{code} {job.fail_reason or 'no reason given'}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _job_record(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "job_type": job.job_type.value if job.job_type is not None else None,
        "error_code": job.error_code,
        "fail_reason": job.fail_reason,
    }


def _error_record(job_id: str, error: BaseException) -> dict[str, Any]:
    if isinstance(error, EvsApiError):
        code, message, status = error.code, error.message, error.status
    else:
        code, message, status = None, str(error), None
    return {
        "job_id": job_id,
        "error": type(error).__name__,
        "code": code,
        "message": message,
        "http_status": status,
    }
