"""The API gateway's throttling: one token bucket for the whole account (`RateLimit`).

The gateway answers 429 APIG.0308 once an account sends faster than its rate for longer
than its burst lasts, whatever the jobs. Unlike the random `Faults.throttle`, these 429s
depend on the load, so a client's pacing can be tried against the real shape of the limit.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Iterable

import attrs

from ._answers import JSON, Answer
from ._faults import gateway_body, retry_after_value

__all__ = ["RateLimit", "TokenBucket", "add_options", "from_args"]

_MESSAGE = (
    "The throttling threshold has been reached: policy user over ratelimit,limit:{},time:1 second"
)


def _positive(value: float, name: str) -> float:
    if not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def _to_changes(value: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    changes = tuple((float(at), float(rate)) for at, rate in value)
    for at, rate in changes:
        if not 0 <= at < math.inf:
            raise ValueError(f"a rate change must come at 0 or more seconds, got {at!r}")
        _positive(rate, "a changed rate")
    if [at for at, _ in changes] != sorted(at for at, _ in changes):
        raise ValueError("rate changes must be in time order")
    return changes


@attrs.frozen
class RateLimit:
    """An account-wide token bucket on the job query, on the simulated clock.

    Args:
        rate: requests per simulated second.
        burst: the bucket's size in requests; None: a tenth of the rate in force (at least 1).
        changes: (at, rate) pairs: from `at` simulated seconds after the limit took effect
            (when it was set on a running simulator, else at the simulator's start), the
            bucket fills at `rate`; e.g. `((30, 50), (60, 200))`.
        retry_after: send Retry-After with each 429: the loop seconds until a token is free.
    """

    rate: float = attrs.field(converter=float)
    burst: float | None = attrs.field(default=None)
    changes: tuple[tuple[float, float], ...] = attrs.field(default=(), converter=_to_changes)
    retry_after: bool = False

    def __attrs_post_init__(self) -> None:
        _positive(self.rate, "rate")
        if self.burst is not None and _positive(self.burst, "burst") < 1:
            raise ValueError(f"burst must be at least one request, got {self.burst!r}")

    def rate_at(self, elapsed: float) -> float:
        """The rate in force `elapsed` simulated seconds after the limit took effect."""
        rate = self.rate
        for at, changed in self.changes:
            if at > elapsed:
                break
            rate = changed
        return rate

    def size(self, rate: float) -> float:
        """The bucket's size while `rate` is in force."""
        return self.burst if self.burst is not None else max(rate / 10.0, 1.0)


class TokenBucket:
    """The tokens of one `RateLimit`, on a simulator's clock (`speed` simulated seconds per
    loop second); full when it takes effect at loop time `start` (None: the first request)."""

    def __init__(self, limit: RateLimit, speed: float, start: float | None) -> None:
        self.limit = limit
        self._speed = speed
        self._started = start is not None
        self._start = 0.0 if start is None else start * speed  # simulated time from here on
        self._filled = self._start  # the simulated time the tokens were counted at
        self._tokens = limit.size(limit.rate)

    def take(self, now: float) -> float | None:
        """Let one request through at loop time `now` (None), or refuse it: then the
        simulated seconds until a token is free."""
        now *= self._speed
        if not self._started:
            self._started, self._start, self._filled = True, now, now
        limit, start, at = self.limit, self._start, self._filled
        if now > at:
            # Refill piece by piece, as the rate may change in between.
            for change, _ in limit.changes:
                if at < start + change < now:
                    self._fill(at, start + change)
                    at = start + change
            self._fill(at, now)
            self._filled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / limit.rate_at(now - start)

    def _fill(self, begin: float, end: float) -> None:
        rate = self.limit.rate_at(begin - self._start)
        self._tokens = min(self.limit.size(rate), self._tokens + rate * (end - begin))

    def refuse(self, now: float, rng: random.Random) -> Answer | None:
        """None when a request at loop time `now` may pass, else the gateway's 429 (with
        Retry-After in loop seconds, if the limit sends it)."""
        wait = self.take(now)
        if wait is None:
            return None
        rate = self.limit.rate_at(self._filled - self._start)
        body = gateway_body("APIG.0308", _MESSAGE.format(f"{rate:g}"), rng)
        if not self.limit.retry_after:
            return 429, body, JSON, None
        return 429, body, JSON, {"Retry-After": retry_after_value(wait / self._speed)}


# -- the command line: `--rate-limit RATE[/BURST] [AT:RATE ...]`, `--rate-limit-retry-after`


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the account rate limit's two options to the simulator's command line."""
    group = parser.add_argument_group("account rate limit (the API gateway's token bucket)")
    group.add_argument(
        "--rate-limit",
        nargs="+",
        metavar=("RATE[/BURST]", "AT:RATE"),
        help="job queries per simulated second for the whole account (burst: a tenth of "
        "the rate), then a new RATE from simulated second AT, e.g. 200 30:100 60:200",
    )
    group.add_argument(
        "--rate-limit-retry-after",
        action="store_true",
        help="send Retry-After (the seconds until a token is free) with its 429s",
    )


def from_args(args: argparse.Namespace) -> RateLimit | None:
    """The `RateLimit` of parsed `add_options` options (ValueError on a bad one)."""
    spec: list[str] | None = args.rate_limit
    if not spec:
        return None
    try:
        rate, _, burst = spec[0].partition("/")
        changes = [_pair(step) for step in spec[1:]]
        return RateLimit(
            float(rate),
            burst=float(burst) if burst else None,
            changes=changes,
            retry_after=args.rate_limit_retry_after,
        )
    except ValueError as exc:
        raise ValueError(f"--rate-limit {' '.join(spec)}: {exc}") from None


def _pair(step: str) -> tuple[float, float]:
    at, colon, rate = step.partition(":")
    if not colon:
        raise ValueError(f"a change is AT:RATE, got {step!r}")
    return float(at), float(rate)
