"""Simulated jobs: a timeline decided at creation, rendered lazily from loop time.

A job never runs a timer: its status at loop time `t` is the last step at or before
`t`, and its JSON body is cached per state, so a poll is a bisect and a lookup.
"""

from __future__ import annotations

import math
import random
import time
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import orjson

__all__ = [
    "DEFAULT_DURATIONS",
    "TERMINAL",
    "Duration",
    "SimJob",
    "Step",
    "batch_steps",
    "format_time",
    "random_steps",
]

TERMINAL = frozenset({"SUCCESS", "FAIL"})
Step = tuple[float, str]  # (loop time, status)


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen
class Duration:
    """A job duration distribution in simulated seconds: log-normal, clipped.

    Args:
        median: the typical duration.
        spread: the standard deviation of the log (0 gives always `median`).
        minimum: the shortest duration drawn.
        maximum: the longest duration drawn.
    """

    median: float = attrs.field(validator=_positive)
    spread: float = 0.5
    minimum: float = attrs.field(default=1.0, validator=_positive)
    maximum: float = attrs.field(default=300.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.spread < 0 or self.minimum > self.maximum:
            raise ValueError("Duration needs spread >= 0 and minimum <= maximum")

    def draw(self, rng: random.Random) -> float:
        """One duration, in simulated seconds."""
        value = rng.lognormvariate(math.log(self.median), self.spread)
        return min(max(value, self.minimum), self.maximum)


# For batchCreateVolume the distribution is the one of each sub-job; the parent
# ends shortly after its last sub-job (a 2-disk batch takes about 30 s).
DEFAULT_DURATIONS: Mapping[str, Duration] = {
    "createVolume": Duration(10.0, 0.5, 3.0, 180.0),
    "batchCreateVolume": Duration(25.0, 0.45, 5.0, 300.0),
    "extendVolume": Duration(8.0, 0.5, 2.0, 120.0),
    "deleteVolume": Duration(5.0, 0.5, 2.0, 90.0),
    # ECS: a server takes about a minute to build (per sub-job of createServer).
    "createServer": Duration(60.0, 0.4, 20.0, 300.0),
    "createSingleServer": Duration(60.0, 0.4, 20.0, 300.0),
    "deleteServer": Duration(20.0, 0.4, 5.0, 120.0),
}
FALLBACK_DURATION = Duration(10.0, 0.6, 2.0, 180.0)


def format_time(wall: float) -> str:
    """Format epoch seconds as `YYYY-MM-DDTHH:MM:SS.SSSZ` (UTC)."""
    seconds, millis = divmod(round(wall * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def random_steps(
    rng: random.Random, duration: Duration, *, start: float, speed: float, fail: bool
) -> list[Step]:
    """INIT now, RUNNING after a short INIT phase, then SUCCESS or FAIL."""
    total = duration.draw(rng)
    init = min(rng.uniform(0.3, 2.0), total * 0.3)
    final = "FAIL" if fail else "SUCCESS"
    return [(start, "INIT"), (start + init / speed, "RUNNING"), (start + total / speed, final)]


def batch_steps(subs: Sequence[Sequence[Step]], *, start: float, settle: float) -> list[Step]:
    """A batch parent's steps from its sub-jobs'.

    RUNNING when the first sub-job leaves INIT; once every sub-job ended, SUCCESS
    (or FAIL if any failed) `settle` loop seconds after the last one.
    """
    steps: list[Step] = [(start, "INIT")]
    moves = [s[0] for sub in subs for s in sub if s[1] != "INIT"]
    finals = [sub[-1] for sub in subs]
    ended = bool(finals) and all(status in TERMINAL for _, status in finals)
    end = max(at for at, _ in finals) + settle if ended else math.inf
    if moves and min(moves) < end:
        steps.append((max(min(moves), start), "RUNNING"))
    if ended:
        failed = any(status == "FAIL" for _, status in finals)
        steps.append((end, "FAIL" if failed else "SUCCESS"))
    return steps


class SimJob:
    """One job (or sub-job): identity, entities, decided steps, per-state body cache."""

    __slots__ = (
        "_cache",
        "_times",
        "begin_time",
        "entities",
        "fail",
        "flash_at",
        "job_id",
        "job_type",
        "parent_id",
        "steps",
        "subs",
        "visible_at",
        "wall_offset",
    )

    def __init__(
        self,
        *,
        job_id: str,
        job_type: str,
        steps: Sequence[Step],
        entities: Mapping[str, Any],
        fail: tuple[str, str],
        wall_offset: float,
        visible_at: float,
        parent_id: str | None = None,
        subs: Sequence[SimJob] = (),
    ) -> None:
        self.job_id = job_id
        self.job_type = job_type
        self.parent_id = parent_id
        self.steps = _collapse(steps)
        self.entities = dict(entities)
        self.fail = fail
        self.subs = tuple(subs)
        self.wall_offset = wall_offset
        self.visible_at = visible_at
        self.flash_at: float | None = None  # early SUCCESS: read once from then (Quirks)
        self.begin_time = format_time(self.steps[0][0] + wall_offset)
        # Every time the rendered body can change: this job's steps and its sub-jobs'.
        times = {at for at, _ in self.steps}
        for sub in self.subs:
            times.update(at for at, _ in sub.steps)
        self._times = sorted(times)
        self._cache: list[bytes | None] = [None] * len(self._times)

    @property
    def outcome(self) -> str:
        """The last decided status."""
        return self.steps[-1][1]

    @property
    def ended_at(self) -> float:
        """Loop time of the final step if it is terminal, else `math.inf`."""
        at, status = self.steps[-1]
        return at if status in TERMINAL else math.inf

    def step_at(self, now: float) -> Step | None:
        """The step in force at loop time `now`, None before the job exists."""
        index = bisect_right(self.steps, now, key=_time) - 1
        return self.steps[index] if index >= 0 else None

    def body_at(self, now: float) -> bytes | None:
        """The JSON body at loop time `now` (cached per state), None before it exists."""
        index = bisect_right(self._times, now) - 1
        if index < 0:
            return None
        if self.flash_at is not None and self.flash_at <= now < self.ended_at:
            self.flash_at = None  # read once, then RUNNING again until the real end
            return orjson.dumps({**(self.render(now) or {}), **self._flash(now)})
        body = self._cache[index]
        if body is None:
            obj = self.render(now)
            if obj is None:
                return None
            body = self._cache[index] = orjson.dumps(obj)
        return body

    def render(self, now: float) -> dict[str, Any] | None:
        """The job object as the API returns it at loop time `now`."""
        step = self.step_at(now)
        if step is None:
            return None
        since, status = step
        entities = self.entities
        if self.subs:
            rendered = (sub.render(now) for sub in self.subs)
            entities = {**entities, "sub_jobs": [obj for obj in rendered if obj is not None]}
        failed = status == "FAIL"
        return {
            "status": status,
            "entities": entities,
            "job_id": self.job_id,
            "job_type": self.job_type,
            "begin_time": self.begin_time,
            "end_time": format_time(since + self.wall_offset) if status in TERMINAL else "",
            "error_code": self.fail[0] if failed else None,
            "fail_reason": self.fail[1] if failed else None,
        }

    def _flash(self, now: float) -> dict[str, Any]:
        return {"status": "SUCCESS", "end_time": format_time(now + self.wall_offset)}


def _time(step: Step) -> float:
    return step[0]


def _collapse(steps: Sequence[Step]) -> tuple[Step, ...]:
    """Drop a step that repeats the previous status: it is not a transition."""
    kept: list[Step] = []
    for step in steps:
        if not kept or kept[-1][1] != step[1]:
            kept.append(step)
    if not kept:
        raise ValueError("a job needs at least one step")
    return tuple(kept)
