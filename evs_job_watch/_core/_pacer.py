"""Pacer: spaces the watcher's requests so that they use the account's whole quota, no more.

The API gateway limits an account with a token bucket: requests that come faster than
its rate, once its small burst is spent, are answered 429, and while it refuses some,
those it lets through come exactly at its rate. So the pacer judges a pace by what became
of the requests sent at it (their answers tell it when each was sent), in windows of
``_WINDOW`` requests; a window with a 429 runs on until ``_WINDOW`` more were sent after
its first 429.

1. Free: until the first 429, only a configured ``rate_limit`` spaces requests.
2. Cut: a window with more 429s than tolerated has found the account's rate: the rate at
   which requests got through from its first 429 on (lulls in the watches' demand do not
   count). The pace becomes ``_MARGIN`` of it, never faster than it was. Before there
   was a pace the whole window stands in; that rate is too high (the burst counts in),
   and the next window, paced, corrects it.
3. Hold, then probe: a window with no more 429s than tolerated holds the pace; after
   ``_HOLD`` of them it rises, by ``_CAREFUL`` every ``_DWELL`` windows while it is near
   the rate found (the bucket's burst hides a small excess for a while), then by twice
   that, doubling each window up to ``_MAX_STEP``: a limit that rose is found within
   seconds. A pace twice what is being sent holds nothing back: it is lifted.
4. Noise: 429s that come at a pace the account allows (free, or cut to) are noise, from
   an API that refuses at random. The pacer learns their share and tolerates it, with
   four standard deviations of a window's share to spare (at least ``_TOLERATED``). A
   cut after which the next window has about as many 429s (half to twice as many, at
   most ``_MAX_NOISE``) changed nothing: it is undone.
5. Retry-After: a 429's pause holds every request not yet sent.
6. Lateness: a busy loop wakes requests late; at the pace found, a late request lets the
   next ones make up for up to ``_CATCH_UP`` slots, lest the lateness add up.

With a shared store the pacer has a seam to the fleet (``shared``, a
``_store.SharedPace``): the rate limit is the fleet's, so this pacer spaces requests by
the share of it that the fleet gives this replica (``turn`` returns None while it has
none: the caller awaits ``refill()`` and asks again), and a 429 is told to the fleet,
whose other replicas pause for it (``throttled(..., heard=True)``).

The poller asks for turns (``turn``) one request at a time, in the order the due watches
queue up: the most overdue watch goes first whenever requests are scarce, and a new pace
or pause applies to every request not yet sent. ``rate_limit`` is never exceeded.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._store import SharedPace

__all__ = ["Pacer"]

_WINDOW = 32  # requests per window
_MARGIN = 0.95  # of the account's rate found
_TOLERATED = 0.04  # the share of 429s in a window that holds the pace, not cuts it
_HOLD = 4  # tolerable windows before probing
_DWELL = 3  # windows at each careful step
_CAREFUL = 0.05  # the careful step, up to twice that above the rate found
_MAX_STEP = 0.5
_MAX_NOISE = 0.2  # the largest share of 429s taken for noise
_LEARN = 0.2  # how much of a window's share of 429s the noise takes on
_SPARE = 4.0  # standard deviations of a window's share of noise tolerated above it
_LULL = 4.0  # a gap between requests this many times the usual one is a lull in demand
_CATCH_UP = 2  # slots a late request may make up for


def _until(slot: float, now: float) -> float:
    """Seconds from ``now`` to ``slot``, rounded so that a sleep of them never ends early."""
    wait = slot - now
    if wait <= 0:
        return 0.0
    return math.nextafter(wait, math.inf) if now + wait < slot else wait


class _Window:
    """The requests sent at one pace: when each went out and whether it was refused."""

    __slots__ = ("after", "first", "passed", "sent")

    def __init__(self) -> None:
        self.sent: list[tuple[float, bool]] = []
        self.first = math.inf  # when the first 429 among them went out
        self.after = self.passed = 0  # requests counted since that 429, and passed

    def add(self, sent: float, refused: bool) -> bool:
        """Count one request; whether the window is full: ``_WINDOW`` requests, and if
        any was refused, ``_WINDOW`` since then, two of them passed (to time a rate)."""
        self.sent.append((sent, refused))
        if refused:
            self.first = min(self.first, sent)
        elif self.first < math.inf:
            self.passed += 1
        if self.first < math.inf:
            self.after += 1
            return self.after >= _WINDOW and self.passed >= 2
        return len(self.sent) >= _WINDOW

    def share(self) -> float:
        """The share of 429s."""
        return sum(refused for _, refused in self.sent) / len(self.sent)

    def through(self, since: float) -> float:
        """The rate at which requests sent from ``since`` on got through (0 for fewer than
        two): the time between them counts only while requests were being sent, so that a
        lull in the watches' demand does not pass for a lower limit."""
        times = sorted(at for at, refused in self.sent if at >= since and not refused)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        if not gaps:
            return 0.0
        longest = _LULL * sum(gaps) / len(gaps)
        span = sum(min(gap, longest) for gap in gaps)
        return len(gaps) / span if span > 0 else 0.0

    def sending(self) -> float:
        """Requests sent per second."""
        times = [at for at, _ in self.sent]
        span = max(times) - min(times)
        return len(times) / span if span > 0 else math.inf


class Pacer:
    """Reserves request slots: unlimited until a ``rate_limit`` or a 429 says otherwise."""

    __slots__ = (
        "_clean",
        "_cut",
        "_found",
        "_kept",
        "_last",
        "_limit",
        "_next",
        "_noise",
        "_paused_until",
        "_settled",
        "_step",
        "_window",
        "rate",
        "shared",
        "spacing",
    )

    def __init__(self, rate_limit: float | None = None, shared: SharedPace | None = None) -> None:
        self.shared = shared  # the fleet's part, with a shared store
        self._limit = math.inf if rate_limit is None else rate_limit
        self.spacing = rate_limit is not None  # whether a request may have to wait at all
        self.rate: float | None = None  # the pace; None: free
        self._found = math.inf  # the account's rate last found
        self._next = 0.0  # the next free slot at the pace it was reserved at
        self._last = -math.inf  # the last slot given out
        self._paused_until = 0.0
        self._window = _Window()
        self._settled = -math.inf  # requests sent before went out at an earlier pace
        self._clean = 0  # tolerable windows in a row
        self._step = 2 * _CAREFUL  # the next step past the careful ones
        self._noise = 0.0  # the share of 429s that comes whatever the pace
        self._cut = 0.0  # the share of 429s of the window that last cut the pace
        self._kept = math.inf  # the pace before that cut

    def turn(self, now: float) -> float | None:
        """Reserve the next request's slot: how many seconds to wait before sending it.

        None (a shared pace only): no fleet slot is left; ``refill``, then ask again.
        """
        limit = self._limit
        if self.shared is not None and limit < math.inf:
            limit = self.shared.share() or 0.0  # this replica's part of the fleet's limit
            if not limit:
                return None
        slot = max(now, self._paused_until)
        rate = limit if self.rate is None else min(self.rate, limit)
        if rate < math.inf:
            if rate < limit:
                # A busy loop wakes requests late; at the pace found (not at a configured
                # rate_limit, nor at the fleet's share of it), the next few may make up
                # for it, lest the lateness add up.
                slot = max(now - _CATCH_UP / rate, self._paused_until)
            # The gap after the last slot is the present rate's, not the one it was
            # reserved at: a share of the fleet's limit that grew (a claim cycle after a
            # restart) is not held by a slot spaced at the tiny share before it, and one
            # that shrank spaces the next request by the new share at once.
            # Rounding must never bring two slots closer than the rate allows, nor a sleep
            # of the returned wait end before its slot: both round up.
            slot = max(slot, math.nextafter(self._last + 1.0 / rate, math.inf))
            self._last = slot
            self._next = math.nextafter(slot + 1.0 / rate, math.inf)
            if self.shared is not None:
                self.shared.reserved(self._next)
        return _until(slot, now)

    async def refill(self) -> None:
        """Wait for a share of the fleet's rate limit (``turn`` returned None)."""
        if self.shared is not None:
            await self.shared.refill()

    def held(self, now: float) -> float:
        """How much longer a request whose slot has come must wait: the rest of a 429's
        pause that began after the slot was reserved."""
        return _until(self._paused_until, now)

    def answered(self, now: float, sent: float | None = None) -> None:
        """A request sent at ``sent`` (default: now) got through, whatever the answer."""
        self._count(now, now if sent is None else sent, refused=False)

    def throttled(
        self, now: float, pause: float, sent: float | None = None, *, heard: bool = False
    ) -> None:
        """A 429 for a request sent at ``sent`` (default: now); nothing goes out for
        ``pause`` seconds (its Retry-After).

        ``heard``: another replica got it (a shared store told us): only its pause counts
        here, and it is not told on.
        """
        self.spacing = True
        self._paused_until = max(self._paused_until, now + pause)
        self._next = max(self._next, self._paused_until)
        if heard:
            return
        if self.shared is not None:
            self.shared.throttled(pause)
        self._count(now, now if sent is None else sent, refused=True)

    def _count(self, now: float, sent: float, refused: bool) -> None:
        # A request sent at an earlier pace says nothing of the present one.
        if sent >= self._settled and self._window.add(sent, refused):
            window, self._window = self._window, _Window()
            self._judge(window, now)

    def _judge(self, window: _Window, now: float) -> None:
        """Cut, hold or probe, by what became of a window's requests."""
        share = window.share()
        cut, self._cut = self._cut, 0.0
        if share <= self._tolerated(len(window.sent)):
            if self.rate is None or self.rate <= _MARGIN * self._found:
                # At a pace the account allows, what 429s come are noise.
                self._noise += _LEARN * (share - self._noise)
            self._clean += 1
            if self.rate is not None and self._clean > _HOLD:
                self._probe(window.sending(), now)
        elif self.rate is None:
            self._clean = 0
            self._cut_to(window.through(min(at for at, _ in window.sent)), now)
        elif cut / 2.0 <= share <= min(2.0 * cut, _MAX_NOISE):
            # The cut changed nothing: those 429s are noise. Undo it.
            self._noise = max(self._noise, share)
            self._change(self._kept, now)
        else:
            self._cut, self._kept, self._clean = share, self.rate, 0
            self._cut_to(window.through(window.first), now)

    def _tolerated(self, size: int) -> float:
        """The share of 429s a window of ``size`` requests may have without a cut."""
        noise = self._noise
        return max(_TOLERATED, noise + _SPARE * math.sqrt(noise * (1.0 - noise) / size))

    def _cut_to(self, found: float, now: float) -> None:
        if found:
            self._found, self._step = found, 2 * _CAREFUL
            self._change(min(_MARGIN * found, self.rate or math.inf), now)

    def _probe(self, sending: float, now: float) -> None:
        """Raise the pace: carefully near the rate found, then faster and faster."""
        assert self.rate is not None
        if self.rate >= 2.0 * sending:
            self.rate = None
        elif self.rate >= self._limit:
            return
        elif self.rate < (1.0 + 2 * _CAREFUL) * self._found:
            if (self._clean - _HOLD - 1) % _DWELL == 0:
                self._change(self.rate * (1.0 + _CAREFUL), now)
        else:
            self._change(self.rate * (1.0 + self._step), now)
            self._step = min(2.0 * self._step, _MAX_STEP)

    def _change(self, rate: float, now: float) -> None:
        """Pace at ``rate`` from the next free slot on, and judge it from there."""
        self.rate = min(rate, self._limit)
        self._settled = max(self._next, now)
