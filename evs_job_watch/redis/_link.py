"""Link: one replica's calls of the fleet script, retried with backoff through Redis faults.

Every call runs ``fleet.lua`` once (one round trip). A dropped connection, a Redis
restart or a timeout is logged once per outage and retried with exponential backoff and
full jitter; the caller just waits (its bookkeeping stalls, nothing is lost). A call
that finds Redis emptied (a restart without persistence: the epoch changed) reports it
as ``Reset`` so the store can add its watches again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar

import backoff
import redis.asyncio as aioredis
from redis import exceptions

__all__ = ["FAULTS", "MAX_DELAY", "Link", "Reset"]

logger = logging.getLogger("evs_job_watch")

T = TypeVar("T")
FAULTS = (exceptions.ConnectionError, exceptions.TimeoutError, OSError)
_SCRIPT = resources.files(__package__).joinpath("fleet.lua").read_text(encoding="utf-8")
_FIRST_DELAY = 0.05  # seconds: the first retry after a fault
MAX_DELAY = 2.0  # seconds: the longest wait between two tries


class Reset(Exception):
    """Redis lost the fleet's data since the last call: the epoch is new."""

    def __init__(self, epoch: str) -> None:
        super().__init__(epoch)
        self.epoch = epoch


class Link:
    """Calls of the fleet script for one replica, in one namespace."""

    def __init__(self, client: aioredis.Redis, prefix: str, replica: str) -> None:
        self.client = client
        self.prefix = prefix
        self.replica = replica
        self.epoch = ""
        self.calls = 0  # round trips made, for the benchmarks
        self._script = client.register_script(_SCRIPT)
        self._down = False
        # Done when a call goes through: the calls waiting out a backoff try again at
        # once (else a batch could sleep two seconds after Redis is back, and the claim
        # cycle that waits for it let this replica's leases lapse).
        self._back: asyncio.Future[None] | None = None

    async def hello(self) -> None:
        """Learn the fleet's epoch (starting one if Redis has none)."""
        key = f"{self.prefix}epoch"
        candidate = secrets.token_hex(8)

        async def call() -> Any:
            self.calls += 1
            await self.client.set(key, candidate, nx=True)
            return await self.client.get(key)

        epoch = await self.retrying(call)
        self.epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)

    async def run(self, op: str, *args: str | int) -> Any:
        """One call of the script (retried through faults); raises ``Reset``."""

        async def call() -> Any:
            self.calls += 1
            argv = (self.prefix, op, self.replica, self.epoch, *args)
            return await self._script(args=argv)

        result = await self.retrying(call)
        if isinstance(result, list) and result and result[0] == b"reset":
            raise Reset(result[1].decode())
        return result

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` until it goes through; faults are retried with backoff."""
        delays = backoff.full_jitter  # a delay d becomes one in [0, d]
        waits = backoff.expo(base=2, factor=_FIRST_DELAY, max_value=MAX_DELAY)
        next(waits)  # backoff's generators start with a None
        while True:
            try:
                result = await call()
            except FAULTS as exc:
                if not self._down:
                    self._down = True
                    logger.warning("Redis is unreachable (%s); retrying", type(exc).__name__)
                await self._wait_out(max(delays(next(waits)), _FIRST_DELAY / 2))
                continue
            back, self._back = self._back, None
            if back is not None and not back.done():
                back.set_result(None)
            if self._down:
                self._down = False
                logger.warning("Redis is reachable again")
            return result

    async def _wait_out(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if another call gets through meanwhile."""
        if self._back is None:
            self._back = asyncio.get_running_loop().create_future()
        await asyncio.wait({self._back}, timeout=seconds)
