"""DurationModel: how long jobs of each type take, and when to poll a job next.

Everything the API tells counts (``docs/ARCHITECTURE.md`` has the full story):
- a job that ended is a sample of its type's duration (``end_time - begin_time``, the
  API's own times, free of our polling delay); so is every sub-job of a batch that ended;
- a job still running at age ``t`` (``begin_time`` gives the age, even for a watch that
  started late) is censored: it lasts longer than ``t``;
- a type with little history leans on the pool of all types, the pool on a prior built
  from the API's facts (durations of tens of seconds), so the first job is scheduled too.

The schedule (``delay``), for a job of age ``a`` on its kind's survival curve:
- skip: while jobs of that age rarely end (under a ``_DENSE`` chance per ``latency``),
  wait out the stretch in which the job ends with at most a ``_SKIP`` chance (less where
  few jobs were seen: a small chance cannot be told from few samples);
- then cover ``latency`` seconds, so an end after the skip is seen within ``latency``;
  only half of it if the job most likely ends in that half (then it is seen sooner);
  and never past the point by which it has ended with a ``_DONE`` chance;
- past the history, the skip is a share of the age (a scale-free tail), so the delay
  grows with the overshoot instead of jumping to ``max_interval``;
- a batch ends with its last running sub-job: the chance that it ends is theirs
  multiplied; once all its sub-jobs ended, it is polled again soon.
- the constants were tuned at the default latency (4.2 s): for a smaller one the skip
  shrinks faster than the latency, for a larger one the poll at half of it comes later,
  so that each value of the knob beats a fixed interval (``benchmarks/README.md``).
``_schedule.after_answer`` then caps the delay, spreads it, and keeps it above the
policy's floor. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime

from .._models import Job, JobType
from .._policy import DEFAULT_LATENCY
from ._snapshot import KIND_TEXT
from ._survival import BINS, Curve, bin_of, prior_hazards

__all__ = ["DurationModel"]

_KEEP = 200  # durations remembered per kind of job (the most recent ones)
# Running jobs remembered per kind: a sample. Once it is full, a job not in it is not
# counted unless the one seen longest ago was last seen _STALE seconds before (its watch
# is gone): so thousands of running jobs of a kind, polled in turn, leave the sample and
# its curves as they are instead of replacing one job by another at every poll.
_RUNNING = 512
_STALE = 600.0
_KINDS = 64  # kinds of job remembered at most (an API inventing types cannot grow us)
# The prior, from the API's facts: durations of tens of seconds (a log-normal with a
# median of 20 s, wide: one job in six takes under 5 s, one in six over 90 s).
_PRIOR = prior_hazards(median=20.0, spread=1.5)
_PRIOR_WEIGHT = 2.0  # jobs the prior counts as, in every bin of the pool
_POOL_WEIGHT = 2.0  # jobs the pool counts as, in every bin of a kind new to the watcher
_SURE = 25.0  # jobs of a kind at which its history is half trusted (skip, pool weight)
_SKIP = 0.025  # the chance of ending unseen for longer than `latency` a skip may take
_DENSE = 0.1  # the chance of ending within `latency` from which polls are dense
_SOON = 0.45  # the chance of ending within `latency / 2` from which that is the delay
_DONE = 0.9  # the chance of having ended past which no poll is put off
# The constants above were tuned at the default latency. Below it, the skip's chance
# and the tail's skip shrink with (latency / DEFAULT_LATENCY) ** _SHRINK (else they,
# not the latency, set the slowest ends); above it, the poll "after half the latency"
# comes later, after latency * 0.5 * (latency / DEFAULT_LATENCY) ** _LATER.
_SHRINK = 2.5
_LATER = 0.15
_REFRESH = 16  # changes between rebuilds of the curves: a running job seen counts 1,
_ENDED = 4  # an ended job this many (and the first _REFRESH of a kind a whole rebuild)


class _Kind:
    """What was seen of one kind of job: ended durations, and the running jobs' ages."""

    __slots__ = ("alive", "curve", "done", "ended", "events", "running")

    def __init__(self) -> None:
        self.ended: deque[float] = deque()
        self.events = [0.0] * BINS  # ended durations per bin
        self.alive = [0.0] * BINS  # running jobs per bin of the age they were last seen at
        # OrderedDicts: dropping the oldest entry is O(1) (a dict's first entry after many
        # deletions is found by a scan).
        # job id -> (that bin, wall time it was last seen), the one seen longest ago first
        self.running: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self.done: OrderedDict[str, None] = OrderedDict()  # ids counted as ended, oldest first
        self.curve: tuple[int, Curve] | None = None  # (generation, curve)


class DurationModel:
    """Durations of jobs per kind (job type, or a batch's sub-jobs), and poll delays."""

    __slots__ = (
        "_changes",
        "_generation",
        "_kinds",
        "_knobs",
        "_pool",
        "_pool_alive",
        "_pool_events",
    )

    def __init__(self) -> None:
        self._kinds: dict[str, _Kind] = {}
        self._knobs: dict[float, _Knob] = {}
        self._pool_events = [0.0] * BINS
        self._pool_alive = [0.0] * BINS
        self._pool: tuple[int, Curve] | None = None
        self._generation = 0  # curves of an older generation are rebuilt when next used
        self._changes = 0

    # -- learning ------------------------------------------------------------------

    def seen(self, job: Job, now: float) -> None:
        """Learn from an answer taken at wall time ``now`` (epoch seconds)."""
        kind = _kind(job)
        self._one(kind, job, now)
        if job.sub_jobs:
            for sub in job.sub_jobs:
                self._one(f"{kind}/{_kind(sub)}", sub, now)

    def answered(self, job: Job, now: float, latency: float) -> float | None:
        """``seen``, then ``delay`` for a job still running: the whole of an answer (a job
        of no batch, as most are, is read once for both)."""
        begin_time = job.begin_time
        if job.sub_jobs or begin_time is None or job.status.is_terminal:
            self.seen(job, now)
            return None if job.status.is_terminal else self.delay(job, now, latency)
        name = _kind(job)
        age = max(now - _seconds(begin_time), 0.0)
        j = bin_of(age)
        kind = self._kind(name)
        if kind is not None:
            self._alive(kind, job.job_id, min(j, BINS - 1), now)
        knob = self._knobs.get(latency) or self._knob(latency)
        return _one_job(self._curve(name), age, j, knob)

    def _one(self, name: str, job: Job, now: float) -> None:
        if job.begin_time is None:
            return
        kind = self._kind(name)
        if kind is None:
            return
        begin = _seconds(job.begin_time)
        if not job.status.is_terminal:
            self._alive(kind, job.job_id, min(bin_of(max(now - begin, 0.0)), BINS - 1), now)
            return
        self._forget(kind, job.job_id)
        # A batch shows its ended sub-jobs in every answer: each counts once.
        if job.end_time is not None and job.job_id not in kind.done:
            kind.done[job.job_id] = None
            if len(kind.done) > _KEEP:
                kind.done.popitem(last=False)
            self._add(kind, (job.end_time.timestamp() - begin,))

    def _alive(self, kind: _Kind, job_id: str, j: int, now: float) -> None:
        """Count a job seen running at wall time ``now``, at an age in bin ``j``."""
        running = kind.running
        was = running.get(job_id)
        if was is None:
            if len(running) >= _RUNNING:
                gone, (its_bin, last) = next(iter(running.items()))
                if now - last < _STALE:  # the sample is full of jobs still watched
                    return
                del running[gone]
                self._count(kind.alive, self._pool_alive, its_bin, -1.0)
        elif was[0] == j:  # seen again in the same bin: the counts and the curves stand
            running[job_id] = (j, now)
            running.move_to_end(job_id)
            return
        else:
            del running[job_id]
            self._count(kind.alive, self._pool_alive, was[0], -1.0)
        running[job_id] = (j, now)
        self._count(kind.alive, self._pool_alive, j, 1.0)
        self._changed(1)

    def _forget(self, kind: _Kind, job_id: str) -> None:
        was = kind.running.pop(job_id, None)
        if was is not None:
            self._count(kind.alive, self._pool_alive, was[0], -1.0)

    def add(self, name: str, durations: Iterable[float]) -> None:
        """Learn durations of ended jobs of a kind (a restart brings back its history)."""
        kind = self._kind(name)
        if kind is not None:
            self._add(kind, durations)

    def _add(self, kind: _Kind, durations: Iterable[float]) -> None:
        for duration in durations:
            if not 0.0 <= duration < math.inf:
                continue
            if len(kind.ended) >= _KEEP:
                oldest = kind.ended.popleft()
                self._count(kind.events, self._pool_events, min(bin_of(oldest), BINS - 1), -1.0)
            kind.ended.append(duration)
            self._count(kind.events, self._pool_events, min(bin_of(duration), BINS - 1), 1.0)
            # The first durations of a kind change its curve most: those rebuild it at
            # once; later ones in a batch, so a burst of endings costs a few rebuilds.
            self._changed(_REFRESH if len(kind.ended) <= _REFRESH else _ENDED)

    def _kind(self, name: str) -> _Kind | None:
        kind = self._kinds.get(name)
        if kind is None and len(self._kinds) < _KINDS and len(name) <= KIND_TEXT:
            kind = self._kinds[name] = _Kind()
        return kind

    @staticmethod
    def _count(own: list[float], pool: list[float], j: int, step: float) -> None:
        own[j] = max(own[j] + step, 0.0)
        pool[j] = max(pool[j] + step, 0.0)

    def _changed(self, weight: int) -> None:
        self._changes += weight
        if self._changes >= _REFRESH:
            self._generation += 1
            self._changes = 0

    def history(self) -> dict[str, list[float]]:
        """The remembered durations per kind, oldest first (what a snapshot keeps)."""
        return {name: list(kind.ended) for name, kind in self._kinds.items() if kind.ended}

    # -- deciding ------------------------------------------------------------------

    def delay(self, job: Job, now: float, latency: float) -> float | None:
        """Seconds until the next poll of a running ``job`` seen at wall time ``now``,
        aiming to see its end within ``latency``; None without its begin_time."""
        if job.begin_time is None:
            return None
        age = max(now - _seconds(job.begin_time), 0.0)
        knob = self._knobs.get(latency) or self._knob(latency)
        if not job.sub_jobs:  # most jobs: decided on one curve, each look-up done once
            return _one_job(self._curve(_kind(job)), age, bin_of(age), knob)
        running = [sub for sub in job.sub_jobs if not sub.status.is_terminal]
        if not running:
            # Every sub-job ended: the batch itself is about to. Look again soon, then
            # back off with the time since the last sub-job ended.
            ends = [sub.end_time.timestamp() for sub in job.sub_jobs if sub.end_time]
            return min(max(now - max(ends), 0.0) if ends else latency, latency)
        kind = _kind(job)
        subs = [
            (self._curve(f"{kind}/{_kind(sub)}"), max(now - sub.begin_time.timestamp(), 0.0))
            for sub in running
            if sub.begin_time is not None
        ]
        if subs:
            return latency + _last_of(subs, knob.small)
        return _one_job(self._curve(kind), age, bin_of(age), knob)

    def _knob(self, latency: float) -> _Knob:
        if len(self._knobs) >= 8:  # a handful of latencies at most: never grows unbounded
            self._knobs.clear()
        knob = self._knobs[latency] = _Knob(latency)
        return knob

    def _curve(self, name: str) -> Curve:
        generation = self._generation
        if self._pool is None or self._pool[0] != generation:
            curve = Curve(self._pool_events, self._pool_alive, _PRIOR, _PRIOR_WEIGHT)
            self._pool = (generation, curve)
        pool = self._pool[1]
        kind = self._kinds.get(name)
        if kind is None:
            return pool
        if kind.curve is None or kind.curve[0] != generation:
            # The pool counts for less as the kind's own history grows: kinds differ in
            # scale, and a kind well known needs none of the others' durations.
            seen = len(kind.ended) + len(kind.running)
            weight = _POOL_WEIGHT * _SURE / (_SURE + seen)
            kind.curve = (generation, Curve(kind.events, kind.alive, pool.hazards, weight))
        return kind.curve[1]


_last_time: tuple[datetime | None, float] = (None, 0.0)  # a begin_time and its seconds


def _seconds(time: datetime) -> float:
    """``time.timestamp()``, remembered for the last one asked (learning from an answer
    and deciding on it ask for the same begin_time twice)."""
    global _last_time  # a one-entry memo, replaced whole (thread-safe)
    last = _last_time
    if last[0] is time:
        return last[1]
    seconds = time.timestamp()
    _last_time = (time, seconds)
    return seconds


# The text of each declared job type, by identity (an enum's ``value`` is a property,
# and its hash a Python call: this is a dict of ints); unknown types read ``value``.
_TEXTS = {id(member): (member, member.value) for member in JobType}


def _kind(job: Job) -> str:
    job_type = job.job_type
    if job_type is None:
        return ""
    known = _TEXTS.get(id(job_type))
    return known[1] if known is not None and known[0] is job_type else job_type.value


class _Knob:
    """What the schedule makes of one ``latency``, worked out once."""

    __slots__ = ("latency", "rate", "small", "soon")

    def __init__(self, latency: float) -> None:
        scale = latency / DEFAULT_LATENCY
        self.latency = latency
        self.rate = _DENSE / latency  # the chance of ending per second of dense polls
        # Under the default latency, the skip's chance and the tail's skip shrink.
        self.small = math.pow(min(scale, 1.0), _SHRINK)
        # Where the skip lands, a job likely to end within half the latency is looked at
        # again after half of it: most ends happen there, and each is then seen sooner.
        # (Later for a large latency: polls cost more there than seeing ends sooner.)
        self.soon = latency * min(0.5 * math.pow(max(scale, 1.0), _LATER), 1.0)


def _one_job(curve: Curve, age: float, j: int, knob: _Knob) -> float:
    """The delay for one job of ``age`` (in bin ``j``; no running sub-jobs) on its kind's
    ``curve``."""
    alive = curve.log_alive(age, j)
    seen = curve.risk[j] if j < BINS else 0.0  # at_risk(age)
    # The skip: while the chance of ending per second stays under the dense rate, and at
    # most a small chance of ending (less where few jobs were seen at that age); past
    # the history, a share of the age.
    quiet = min(
        curve.quiet_from(age, j, alive, _chance(seen) * knob.small),
        curve.calm_from(age, j, knob.rate),
    )
    skip = max(quiet, _tail(age, seen) * knob.small)
    soon = knob.soon
    if curve.ending_within(age + skip, soon) >= _SOON:
        return skip + soon
    # And never past the point by which the job has most likely ended.
    return min(skip + knob.latency, max(curve.quiet_from(age, j, alive, _DONE), soon))


def _chance(seen: float) -> float:
    """The skip's chance for a job of an age at which ``seen`` jobs were at risk: small
    where few were, as a small chance cannot be told from few samples."""
    return _SKIP * seen / (seen + _SURE)


def _tail(age: float, seen: float) -> float:
    """The skip past the history, where nothing is known but the age: with a scale-free
    tail the chance of ending within x is x / (age + x), so the skip grows in proportion
    to the age (weighed by how little was seen at that age, ``seen`` jobs at risk)."""
    return _SKIP * age / (1 - _SKIP) / (1 + seen)


def _last_of(subs: list[tuple[Curve, float]], small: float) -> float:
    """How far past ``latency`` the next poll of a batch may go: it ends with its last
    running sub-job, so the chance that it ends is the product of theirs."""
    chance = min(_chance(curve.at_risk(age)) for curve, age in subs) * small
    each = chance ** (1 / len(subs))  # all of them below it: the product is below chance
    quiet = [curve.quiet(age, each) for curve, age in subs]
    low, high = min(quiet), max(quiet)
    while high - low > 0.05:
        middle = (low + high) / 2
        if math.prod(curve.ending_within(age, middle) for curve, age in subs) <= chance:
            low = middle
        else:
            high = middle
    return max(low, min(_tail(age, curve.at_risk(age)) for curve, age in subs) * small)
