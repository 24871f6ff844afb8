"""Link: one replica's calls of the fleet script, retried with backoff through Redis faults.

Every call runs ``fleet.lua`` once (one round trip). A dropped connection, a Redis
restart or a timeout is logged once per outage and retried with exponential backoff and
full jitter; the caller just waits (its bookkeeping stalls, nothing is lost). A call
that finds Redis emptied (a restart without persistence: the epoch changed) reports it
as ``Reset`` so the store can add its watches again.

Every key of a namespace is named by ``prefix``: its ``{namespace}`` hash tag puts them
all in one slot of a Redis Cluster. The script touches a fixed set of keys (``NAMES``;
each job is a field or a member of them), every one declared to it in ``KEYS`` on every
call, so that a cluster (or a proxy checking the keys a script touches) sends each call
to that slot and lets it run. A client made from a URL finds out at ``hello`` whether
the server is a cluster node.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar

import backoff
import redis.asyncio as aioredis
from redis import exceptions
from redis.asyncio.cluster import RedisCluster

__all__ = [
    "FAULTS",
    "LAYOUT",
    "MAX_DELAY",
    "NAMES",
    "Client",
    "Link",
    "Refused",
    "Reset",
    "connect",
    "fault",
    "prefix",
]

logger = logging.getLogger("evs_job_watch")

T = TypeVar("T")
Client = aioredis.Redis | RedisCluster
# A cluster between states (a failover, slots moving) is a fault like a dropped link;
# so is one that no node of answers (see fault).
_CLUSTER_FAULTS = (
    exceptions.ClusterDownError,
    exceptions.TryAgainError,
    exceptions.SlotNotCoveredError,
)
FAULTS = (exceptions.ConnectionError, exceptions.TimeoutError, OSError, *_CLUSTER_FAULTS)
# Every key the script touches (after the prefix), declared to it in this order as KEYS.
NAMES = (
    "epoch", "due", "replicas", "share", "log", "events", "seen", "learned",
    "w", "own", "ended", "kept",
)  # fmt: skip
# The layout of the keys, in their names: a namespace written by a release of another
# layout (per-job keys, before) is not read at all (its keys are left as they were).
LAYOUT = "v2"

_SCRIPT = resources.files(__package__).joinpath("fleet.lua").read_text(encoding="utf-8")
_FIRST_DELAY = 0.05  # seconds: the first retry after a fault
MAX_DELAY = 2.0  # seconds: the longest wait between two tries


def fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault to wait out: Redis, or every node of a cluster, out of
    reach. (redis-py 8.2 raises ``RedisClusterUnreachableError`` for the latter; earlier
    releases a ``RedisClusterException`` raised from the connection error. Both are a
    ``RedisClusterException`` whose cause is a fault.)"""
    if isinstance(exc, FAULTS):
        return True
    return isinstance(exc, exceptions.RedisClusterException) and isinstance(exc.__cause__, FAULTS)


def prefix(namespace: str) -> str:
    """What every key of ``namespace`` starts with: its hash tag keeps them in one slot."""
    return f"evs_job_watch:{{{namespace}}}:{LAYOUT}:"


def connect(url: str, cluster: bool) -> Client:
    """A client made from a ``redis://`` or ``rediss://`` URL (``cluster``: a cluster's)."""
    options: dict[str, Any] = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
    if cluster:
        return RedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)


def _untrusted(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate error behind ``exc``, if any (redis-py chains it as the cause from
    8.2 on, as the context before)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class Refused(ConnectionError):
    """Redis refused this replica's credentials, or its TLS certificate is not trusted
    (never retried: a wait would not help)."""


class Reset(Exception):
    """Redis lost the fleet's data since the last call: the epoch is new."""

    def __init__(self, epoch: str) -> None:
        super().__init__(epoch)
        self.epoch = epoch


class Link:
    """Calls of the fleet script for one replica, in one namespace."""

    def __init__(
        self, redis: str | Client, namespace: str, replica: str, cluster: bool | None = None
    ) -> None:
        self.prefix = prefix(namespace)
        self.keys = [f"{self.prefix}{name}" for name in NAMES]
        self.replica = replica
        self.epoch = ""
        self.calls = 0  # round trips made, for the benchmarks
        # A URL whose server may turn out to be a cluster node (found out at hello).
        self._url = redis if isinstance(redis, str) and cluster is None else None
        self._down = False
        # Done when a call goes through: the calls waiting out a backoff try again at
        # once (else a batch could sleep two seconds after Redis is back, and the claim
        # cycle that waits for it let this replica's leases lapse).
        self._back: asyncio.Future[None] | None = None
        self.use(connect(redis, bool(cluster)) if isinstance(redis, str) else redis)

    def use(self, client: Client) -> None:
        self.client = client
        self._script = client.register_script(_SCRIPT)

    async def hello(self) -> None:
        """Learn the fleet's epoch (starting one if Redis has none), after finding out
        whether a URL's server is a cluster node (then a cluster client takes over)."""
        candidate = secrets.token_hex(8)

        async def cluster() -> bool:
            self.calls += 1
            try:
                info = await self.client.info("cluster")
            except exceptions.ResponseError:
                return False  # INFO not allowed: taken for a single server
            return bool(info.get("cluster_enabled"))

        async def call() -> Any:
            self.calls += 1
            await self.client.set(self.keys[0], candidate, nx=True)
            return await self.client.get(self.keys[0])

        if self._url is not None and await self._refusing(cluster):
            await self.client.aclose()
            self.use(connect(self._url, cluster=True))
        self._url = None  # asked once; and a URL may carry a password: not kept
        epoch = await self._refusing(call)
        self.epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)

    async def run(self, op: str, *args: str | int) -> Any:
        """One call of the script (retried through faults); raises ``Reset``."""

        async def call() -> Any:
            self.calls += 1
            argv = (self.prefix, op, self.replica, self.epoch, *args)
            return await self._script(keys=self.keys, args=argv)

        result = await self.retrying(call)
        if isinstance(result, list) and result and result[0] == b"reset":
            raise Reset(result[1].decode())
        return result

    async def _refusing(self, call: Callable[[], Awaitable[T]]) -> T:
        """``retrying(call)``, but a refusal of the credentials raised at once."""

        async def once() -> T:
            try:
                return await call()
            except exceptions.AuthenticationError as exc:
                # redis-py's message names no password; neither does this one.
                raise Refused(f"Redis refused the credentials: {exc}") from None
            except exceptions.ResponseError as exc:
                if str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
                    raise Refused(f"Redis refused the credentials: {exc}") from None
                raise
            except exceptions.RedisClusterException as exc:
                # A cluster client that reached no node says why only in its cause.
                why = exc.__cause__ or exc.__context__
                if isinstance(why, exceptions.AuthenticationError):
                    raise Refused(f"Redis refused the credentials: {why}") from None
                raise
            except exceptions.ConnectionError as exc:
                cause = _untrusted(exc)
                if cause is not None:
                    raise Refused(
                        f"Redis's TLS certificate is not trusted ({cause.verify_message}): "
                        "give its CA in the URL (?ssl_ca_certs=path)"
                    ) from None
                raise

        return await self.retrying(once)

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` until it goes through; faults are retried with backoff."""
        delays = backoff.full_jitter  # a delay d becomes one in [0, d]
        waits = backoff.expo(base=2, factor=_FIRST_DELAY, max_value=MAX_DELAY)
        next(waits)  # backoff's generators start with a None
        while True:
            try:
                result = await call()
            except Refused:
                raise
            except Exception as exc:
                if not fault(exc):
                    raise
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
