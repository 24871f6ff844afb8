"""Renewal: a credential fetched when first needed, shared, and renewed ahead of expiry.

Every kind of renewable credential (a token provider, temporary AK/SK, an IAM password
token) is one of these around its own fetch, so the rules live in one place: one fetch
at a time however many requests wait, a new fetch ahead of expiry and after a refusal,
and a failed early renewal that keeps the credential still valid instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Generic, TypeVar

from .._errors import AuthenticationError, EvsJobWatchError

__all__ = ["Renewal"]

logger = logging.getLogger("evs_job_watch")

T = TypeVar("T")
Fetch = Callable[[], Awaitable[tuple[T, datetime | None]]]


class Renewal(Generic[T]):
    """The current value of a credential, fetched single-flight and renewed in time.

    Args:
        fetch: returns the value and its expiry (an aware datetime, or None for "until
            refused"). An ``EvsJobWatchError`` it raises passes through; any other
            exception becomes an ``AuthenticationError`` naming only its type, as its
            message might quote a credential.
        what: how errors and logs name the source, e.g. ``"token provider"``.
        margin: at most this many seconds before expiry the value is renewed...
        fraction: ...and at most this fraction of its remaining life, so that short-lived
            values are not renewed at once.
    """

    __slots__ = (
        "_expires",
        "_fetch",
        "_flight",
        "_fraction",
        "_margin",
        "_renew_at",
        "_value",
        "_waiters",
        "what",
    )

    def __init__(self, fetch: Fetch[T], *, what: str, margin: float, fraction: float) -> None:
        self._fetch = fetch
        self.what = what
        self._margin = margin
        self._fraction = fraction
        self._value: T | None = None
        self._renew_at = self._expires = float("inf")  # loop times
        self._flight: asyncio.Task[T] | None = None
        self._waiters = 0

    @property
    def current(self) -> T | None:
        """The value last fetched, if any (it may be due for renewal)."""
        return self._value

    def fresh(self) -> T | None:
        """The value, if one was fetched and it is not yet due for renewal; else None
        (then ``get`` fetches or renews it). Called from a running loop."""
        value = self._value
        if value is not None and asyncio.get_running_loop().time() < self._renew_at:
            return value
        return None

    async def get(self) -> T:
        """The value, fetched first or renewed when it is due."""
        value = self._value
        if value is None:
            return await self._join()
        now = asyncio.get_running_loop().time()
        if now < self._renew_at:
            return value
        if now >= self._expires:
            return await self._join()
        try:
            return await self._join()
        except EvsJobWatchError as exc:
            # Ahead of expiry the old value still works: keep it and try again later,
            # rather than failing the requests over a short outage of its source.
            left = self._expires - now
            if self._renew_at > now:
                return value  # another request met the same failure and said so
            self._renew_at = now + left / 4
            logger.warning(
                "renewing credentials from the %s failed (%s); the current ones are valid "
                "for %.0f s more",
                self.what,
                type(exc).__name__,
                left,
            )
            return value

    async def renew(self, used: T | None) -> None:
        """After ``used`` was refused: fetch anew, unless another request already did."""
        if self._value is not None and self._value is not used:
            return
        self._renew_at = float("-inf")
        await self._join()

    async def _join(self) -> T:
        flight = self._flight
        if flight is None or flight.done():
            flight = self._flight = asyncio.ensure_future(self._run())
        self._waiters += 1
        try:
            # Shielded: one waiter being cancelled must not cancel the fetch the others
            # wait for; the last one to leave cancels it, so no fetch outlives its users.
            return await asyncio.shield(flight)
        finally:
            self._waiters -= 1
            if not self._waiters and not flight.done():
                flight.cancel()

    async def _run(self) -> T:
        failure = None
        try:
            value, expires_at = await self._fetch()
        except EvsJobWatchError:
            raise
        except Exception as exc:
            failure = type(exc).__name__
        if failure is not None:
            logger.warning("the %s raised %s", self.what, failure)
            # Only the type, raised outside the handler so that no __context__ keeps the
            # original exception: its message might quote a credential.
            raise AuthenticationError(f"the {self.what} raised {failure}")
        now = asyncio.get_running_loop().time()
        if expires_at is None:
            self._renew_at = self._expires = float("inf")
        else:
            # The expiry is a wall time; from here on it is kept on the loop's clock.
            left = expires_at.timestamp() - time.time()
            if left <= 0:
                raise AuthenticationError(
                    f"the {self.what} handed out credentials that expired already "
                    "(is this machine's clock right?)"
                )
            self._expires = now + left
            self._renew_at = self._expires - min(self._margin, left * self._fraction)
        self._value = value
        logger.info("fresh credentials from the %s", self.what)
        return value
