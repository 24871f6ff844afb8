"""DurationModel: how long jobs of each type take, learned from the jobs seen to end.

With enough history for a job's type, the next poll goes out when, by that history, the
job has a fixed chance (``PollPolicy.hazard``) of having ended since the last one:
polls are sparse while the job is young, dense around the durations seen most, and
sparse again past them. Durations come from the API's own ``begin_time`` and
``end_time``, so they are free of our polling delay.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

from ._models import Job, JobType

__all__ = ["DurationModel"]

_KEEP = 200  # durations remembered per job type (the most recent ones)
_ENOUGH = 10  # durations needed before the history is trusted
_TYPES = 64  # job types remembered at most (an API inventing types cannot grow us)


class _History:
    __slots__ = ("arrival", "ordered")

    def __init__(self) -> None:
        self.arrival: deque[float] = deque()
        self.ordered: list[float] = []

    def add(self, duration: float) -> None:
        if len(self.arrival) == _KEEP:
            oldest = self.arrival.popleft()
            del self.ordered[bisect.bisect_left(self.ordered, oldest)]
        self.arrival.append(duration)
        bisect.insort(self.ordered, duration)


class DurationModel:
    """Durations of ended jobs, per job type, and the poll delays they suggest."""

    __slots__ = ("_histories",)

    def __init__(self) -> None:
        self._histories: dict[JobType, _History] = {}

    def observe(self, job: Job) -> None:
        """Learn from a job that ended (one without both times teaches nothing)."""
        if job.job_type is None or job.begin_time is None or job.end_time is None:
            return
        duration = (job.end_time - job.begin_time).total_seconds()
        if not 0 <= duration < math.inf:
            return
        history = self._histories.get(job.job_type)
        if history is None:
            if len(self._histories) >= _TYPES:
                return
            history = self._histories[job.job_type] = _History()
        history.add(duration)

    def knows(self, job_type: JobType | None) -> bool:
        """Whether there is enough history of ``job_type`` to go by."""
        history = None if job_type is None else self._histories.get(job_type)
        return history is not None and len(history.ordered) >= _ENOUGH

    def delay(self, job_type: JobType | None, age: float, hazard: float) -> float | None:
        """Seconds until the next poll of a job ``age`` seconds old; None without history.

        The next poll is due at the duration below which a share ``hazard`` of the
        remembered jobs that outlived ``age`` ended.
        """
        if not self.knows(job_type):
            return None
        durations = self._histories[job_type].ordered  # type: ignore[index]
        outlived = bisect.bisect_right(durations, age)
        left = len(durations) - outlived
        if left == 0:
            return None  # older than every job seen: nothing to go by
        due = durations[outlived + max(0, math.ceil(hazard * left) - 1)]
        return due - age
