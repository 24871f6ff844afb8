"""The state of one watched job id, shared by all the handles that hold it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._models import Job, JobStatus
from ._outbox import Call

if TYPE_CHECKING:
    from ._handle import JobHandle

__all__ = ["Watch"]


class Watch:
    """One watched job: what was seen, what was delivered, when to poll, who waits."""

    __slots__ = (
        "delays",
        "delivered",
        "delivered_subs",
        "ended",
        "errors",
        "handles",
        "interval",
        "job_id",
        "latest",
        "missing_since",
        "outbox",
        "seen",
        "subs",
        "timer",
    )

    def __init__(
        self,
        job_id: str,
        seen: JobStatus | None = None,
        subs: dict[str, JobStatus] | None = None,
    ) -> None:
        self.job_id = job_id
        self.handles: list[JobHandle] = []
        self.latest: Job | None = None  # the last answer
        # Statuses seen (the next poll is compared with them) and statuses whose events
        # were delivered (what a snapshot keeps); sub-job maps exist for batches only.
        self.seen = self.delivered = seen
        self.subs = subs
        self.delivered_subs = None if subs is None else dict(subs)
        self.interval: float | None = None  # None: the next delay is policy.interval
        self.timer: asyncio.TimerHandle | None = None
        self.errors = 0
        self.delays: Iterator[float] | None = None  # error backoff, while erroring
        self.missing_since: float | None = None
        self.outbox: deque[Call] | None = None  # callbacks not yet run, in order
        self.ended = False
