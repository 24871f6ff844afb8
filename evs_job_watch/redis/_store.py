"""RedisStore: the watch set shared by the replicas of a service, kept in Redis.

Each watch is polled by one replica at a time, the one holding its lease; the others
follow it. What the watch set tells the store (a watch held, an event delivered, a
watch settled) is queued and sent in one script call per batch (``_flush``); leases are
renewed and due watches claimed in one call per claim cycle (``claim``). News from the
other replicas arrives on the fleet's streams (``_listen.Listener``). How it all fits:
``docs/stores.md``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson

from .._core._events import JobEvent, Statuses
from .._core._snapshot import Learned, SavedWatch
from .._core._store import Claims, Fleet, SharedPace
from .._core._watch import Outcome, Watch
from .._errors import WatchTimeoutError
from .._validate import check_id, positive_seconds
from . import _wire
from ._batch import Batches, until_set
from ._learned import EVERY as _SHARE_EVERY
from ._learned import SharedLearning
from ._ledger import Ledger
from ._link import MAX_DELAY as _MAX_DELAY
from ._link import Client, Link, Refused, Reset
from ._listen import Listener
from ._pace import BATCH_WINDOW, FleetPace

__all__ = ["RedisStore"]

logger = logging.getLogger("evs_job_watch")

_CLAIM_MOST = 500  # watches claimed in one cycle at most (a burst spreads over cycles)
_SAFE_SHARE = 0.8  # of a lease: how long this replica counts on a renewal it made
_SOONEST = 0.02  # seconds: claim cycles come no closer than this


class RedisStore:
    """The watch set of a fleet of replicas, in Redis (``redis.asyncio``).

    Args:
        redis: a ``redis://`` or ``rediss://`` (TLS) URL, or a ``redis.asyncio.Redis``
            or ``redis.asyncio.cluster.RedisCluster`` client (then the caller closes it;
            it must not decode responses).
        namespace: the service's name; every key is under it.
        lease: seconds a replica's claim on a watch holds without renewal: how long the
            watches of a replica that died wait before another takes them.
        keep_ended: seconds an ended job's outcome is kept, for late waiters.
        replica: this replica's name in the fleet (default: host, pid and a random part).
        open_timeout: seconds ``async with`` waits for Redis before it gives up with a
            ``ConnectionError`` (later faults are waited out, never raised).
        cluster: whether the URL's server is a Redis Cluster node (default: found out).
    """

    shared = True

    def __init__(
        self,
        redis: str | Client,
        *,
        namespace: str = "default",
        lease: float | timedelta = 10.0,
        keep_ended: float | timedelta = 3600.0,
        replica: str | None = None,
        open_timeout: float | timedelta = 30.0,
        cluster: bool | None = None,
    ) -> None:
        check_id(namespace, "namespace")
        self._open_timeout = positive_seconds(open_timeout, "open_timeout")
        self.namespace = namespace
        self.lease = positive_seconds(lease, "lease")
        self._keep_ms = int(positive_seconds(keep_ended, "keep_ended") * 1000)
        if replica is None:
            host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:80]
            replica = f"{host}-{os.getpid()}-{secrets.token_hex(3)}"
        self.replica = check_id(replica, "replica")
        self._own_client = isinstance(redis, str)
        self._link = Link(redis, namespace, self.replica, cluster)
        self._listener = Listener(self._link, self)
        self._fleet: Fleet | None = None
        self._batches = Batches(self._send, self._window, lambda: self.fleet.tasks)
        # Claims that came with a batch's answer, each with the number of settles seen
        # here when its add was queued (see _fresh).
        self._claims: list[tuple[str, Statuses, int]] = []
        self._lost: list[str] = []
        self._ledger = Ledger(keep_for=2 * self.lease)
        self._reseeding = asyncio.Lock()
        self._kick = asyncio.Event()
        self._next_cycle = 0.0
        self._pace: FleetPace | None = None
        self._closing = False
        self._beating = False  # a claim cycle of this epoch went through: a heartbeat is kept
        self._learning = SharedLearning()
        self._encode = _wire.Encoder()  # each delivered job encoded once for the fleet
        self.leased_until = 0.0  # loop time; nothing is polled before the first renewal

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        return f"<RedisStore {self.namespace!r} replica {self.replica!r}>"

    @property
    def round_trips(self) -> int:
        """Calls made to Redis so far (the benchmarks divide them by polls)."""
        return self._link.calls + self._listener.calls

    @property
    def fleet(self) -> Fleet:
        if self._fleet is None:
            raise RuntimeError("the store is not open")
        return self._fleet

    # -- the Store protocol -------------------------------------------------------------

    async def open(self, fleet: Fleet) -> tuple[float, list[SavedWatch], Learned] | None:
        """Connect; nothing to resume but what the fleet learned of job durations."""
        self._fleet = fleet
        try:
            await asyncio.wait_for(self._link.hello(), self._open_timeout)
            await asyncio.wait_for(self._listener.start(), self._open_timeout)
            # After hello: a URL's client may have turned out a cluster's.
            learned_raw = self._link.client.hgetall(f"{self._link.prefix}learned")
            raw = await asyncio.wait_for(learned_raw, self._open_timeout)
        except (asyncio.TimeoutError, Refused) as exc:
            if self._own_client:
                await self._link.client.aclose()
            late = f"Redis did not answer within {self._open_timeout:g} s"
            why = str(exc) if isinstance(exc, Refused) else late
            raise ConnectionError(f"{why} (namespace {self.namespace!r})") from None
        self._kick.set()  # the first claim cycle at once: it renews, so polling can start
        self._learning.next_share = asyncio.get_running_loop().time() + _SHARE_EVERY
        learned = self._learning.taken(raw)
        return (time.time(), [], learned) if learned else None

    def pace(self, rate_limit: float | None) -> SharedPace | None:
        self._pace = FleetPace(self, rate_limit)
        return self._pace

    async def claim(self) -> Claims:
        loop = asyncio.get_running_loop()
        wait = self._next_cycle - loop.time()
        if wait > 0 and not self._claims and not self._lost:
            self._kick.clear()
            await until_set(self._kick, wait)
        more: list[tuple[str, Statuses, int]] = []
        gone: list[str] = []
        shed = 0
        if loop.time() >= self._next_cycle or self._listener.work:
            self._listener.work = False
            if loop.time() >= self._learning.next_share:
                self._learning.next_share = loop.time() + _SHARE_EVERY
                self._learning.share(self.fleet, self._queue)
            await self._listener.hear_events(self.fleet.listens())
            self._next_cycle = loop.time() + self.lease / 4
            stamp = self._ledger.stamp
            # What was queued before reaches Redis before the claim does: a watch that
            # ended or was released here is not claimed back by this very cycle.
            await self._batches.drain()
            taken, gone, shed = await self._cycle()
            more = [(job, known, stamp) for job, known in taken]
        # Taken only now: a reset meanwhile (the fleet's state they came from is gone)
        # has dropped the claims and losses that batches brought before it.
        claimed, lost = [*self._claims, *more], [*self._lost, *gone]
        self._claims, self._lost = [], []
        return Claims(self._fresh(claimed), lost, shed)

    def _fresh(self, claims: list[tuple[str, Statuses, int]]) -> list[tuple[str, Statuses]]:
        """The claims still good: not of a watch that settled here after the claim was
        asked for (it ended or was released meanwhile: polling it again would deliver its
        events again). Those are handed back: if the fleet's watch lives on, another
        replica (or this one, later) takes it."""
        fresh, stale = self._ledger.split(claims)
        gap = int(self.fleet.interval * 1e6)
        for job_id in stale:
            self._queue({"a": "back", "j": job_id, "d": gap})
        return fresh

    def listening(self) -> None:
        """An event stream opened here: the listener reads the fleet's events from the
        end of their stream now, not from the next claim cycle."""
        if self._fleet is not None and not self._closing:
            self.fleet.tasks.start(self._listener.hear_events(True))

    def handed_back(self, watches: Sequence[tuple[Watch, float]]) -> None:
        for watch, delay in watches:
            self._queue({"a": "back", "j": watch.job_id, "d": int(delay * 1e6)})

    def held(self, watch: Watch) -> None:
        job, subs = _wire.statuses_data(watch.delivered(), watch.ready)
        stamp = self._ledger.adding()
        item = {"a": "add", "j": watch.job_id, "s": job, "u": subs, "h": 1, "o": 0, "n": stamp}
        self._queue({**item, "x": _wire.waits(watch)})

    def lengthened(self, watch: Watch) -> None:
        # The fleet's deadline of the watch is the latest of its holders' (fleet.lua).
        self._queue({"a": "dl", "j": watch.job_id, "x": _wire.waits(watch)})

    def recorded(self, watch: Watch, event: JobEvent) -> None:
        self._queue(
            {
                "a": "rec",
                "j": watch.job_id,
                "b": "" if event.parent is None else event.job_id,
                "p": "" if event.previous is None else event.previous.value,
                "s": event.status.value,
                "m": _wire.event_message(self.replica, event, self._encode).decode(),
            }
        )

    def readied(self, watch: Watch) -> None:
        self._batches.queue_all(_wire.ready_items(self.replica, watch.job_id))

    def settled(self, watch: Watch, outcome: Outcome | None, here: bool) -> None:
        self._ledger.settled(watch.job_id)
        if not here:
            return  # it ended on another replica, which told the fleet
        if outcome is None or isinstance(outcome, WatchTimeoutError):
            # No caller of this replica waits any more: release its hold.
            gap = int(self.fleet.interval * 1e6)
            note = orjson.dumps({"k": "rel", "r": self.replica, "j": watch.job_id}).decode()
            self._queue({"a": "rel", "j": watch.job_id, "d": gap, "m": note})
            return
        self._queue(_wire.end_item(self.replica, watch.job_id, outcome, self._encode))

    async def close(self, owned: Sequence[tuple[Watch, float]]) -> None:
        """Hand this replica's watches back to the fleet, send what is queued, disconnect."""
        if self._fleet is None or self._closing:
            return
        self.handed_back(owned)
        self._learning.share(self.fleet, self._queue)
        self._queue({"a": "bye", "j": ""})
        self._closing = True
        self._batches.seal()
        await self._listener.stop()
        await self._batches.close(self.lease)
        if self._own_client:
            await self._link.client.aclose()

    # -- for the listener and the pace ------------------------------------------------------

    def kick(self) -> None:
        """Run a claim cycle now (new unclaimed watches, or a claim came in)."""
        self._kick.set()

    def note(self, message: dict[str, Any]) -> None:
        """Tell the fleet something through its log (a 429), in a batch sent now."""
        self._queue({"a": "pub", "j": "", "m": orjson.dumps(message).decode()})
        self._batches.hurry()

    async def run(self, op: str, *args: str | int) -> Any:
        """One script call, through a reset of Redis's data if one happened."""
        while True:
            try:
                return await self._link.run(op, *args)
            except Reset as reset:
                await self._reseed(reset.epoch)

    # -- batches and cycles --------------------------------------------------------------

    def _queue(self, item: dict[str, object]) -> None:
        self._batches.queue(item)

    async def _send(self, items: list[dict[str, object]]) -> None:
        """One batch, in one script call (through a reset of Redis's data)."""
        while True:
            try:
                result = await self._link.run(
                    "batch", int(self.lease * 1e6), self._keep_ms, _wire.batch_items(items)
                )
            except Reset as reset:
                # Sent with the re-adds, in one call, so that they apply to the watches
                # as this replica knew them; or, if another call re-added them already,
                # sent after.
                items = self._after_reset(items)
                if await self._reseed(reset.epoch, items):
                    return
                continue
            self._settle_batch(items, result[1])
            return

    def _window(self) -> float:
        """How long an update waits for others to share its call (``FleetPace.window``)."""
        return BATCH_WINDOW if self._pace is None else self._pace.window()

    def _settle_batch(self, items: list[dict[str, object]], results: list[Any]) -> None:
        fleet = self.fleet
        for item, result in zip(items, results, strict=True):
            action, job_id = item["a"], str(item["j"])
            if action == "end" and result == b"ok":
                # Remembered a while: a Redis that loses its data before every follower
                # read the ending would lose it with the data; it is recorded again then.
                self._ledger.remember(job_id, item, asyncio.get_running_loop().time())
            if action == "add":
                kind = result[0]
                stamp = item.get("n")
                self._ledger.added(item)
                if kind == b"claimed":
                    if item.get("g") == 1 and item["o"] == 1:
                        continue  # a re-add of a watch polled here: nothing new to poll
                    _, job, subs = result[1]
                    known = _wire.known_of(job, subs)
                    self._claims.append((job_id, known, stamp if isinstance(stamp, int) else -1))
                    self._kick.set()
                elif kind == b"ended":
                    fleet.ended(job_id, _wire.outcome_of(orjson.loads(result[1]), job_id))
                elif item["o"] == 1:  # re-added after a reset, but polled elsewhere now
                    self._lost.append(job_id)
                    self._kick.set()
            elif result == b"conflict":
                # Its lease went to another replica meanwhile (a stall longer than the
                # lease): that one delivers from the fleet's record, at least once.
                logger.info("job %s: the fleet's record moved on; not recorded here", job_id)

    async def _cycle(self) -> tuple[list[tuple[str, Statuses]], list[str], int]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        asked = self._pace.asked() if self._pace is not None else ("0", 0, "-1")
        result = await self.run("claim", int(self.lease * 1e6), _CLAIM_MOST, *asked)
        self.leased_until = started + self.lease * _SAFE_SHARE
        _, lost, claimed, shed, soon, share, gone = result
        lost = [job.decode() for job in lost]
        if gone and self._beating:
            # Taken for dead (no heartbeat for a lease): its watches may be anyone's now.
            lost = sorted({*lost, *(w.job_id for w in self.fleet.watches() if w.polling)})
        self._beating = True
        if self._pace is not None:
            self._pace.granted(float(share))
        if int(soon) >= 0:  # a watch falls due before the next cycle: look again then
            self._next_cycle = min(self._next_cycle, started + max(int(soon) / 1e6, _SOONEST))
        taken = [(job.decode(), _wire.known_of(s, u)) for job, s, u in claimed]
        return taken, lost, int(shed)

    def _after_reset(self, items: list[dict[str, object]]) -> list[dict[str, object]]:
        """Of ``items`` (and of those queued), what still means something after Redis lost
        its data: not the holds and releases, which the re-adds say as they stand now."""
        kept = []
        for item in items:
            if item["a"] in ("add", "rel"):
                self._ledger.added(item)
            else:
                kept.append(item)
        return kept

    async def _reseed(self, epoch: str, items: Sequence[dict[str, object]] = ()) -> bool:
        """Redis lost the watch set: add this replica's watches again, as they were, with
        ``items`` after them in the same call. Returns False if another call of this
        replica had re-added them already (``items`` not sent)."""
        async with self._reseeding:
            if self._link.epoch == epoch:
                return False
            while True:
                self._link.epoch = epoch
                self._beating = False  # Redis forgot this replica's heartbeat too
                if self._pace is not None:
                    self._pace.hold(self.lease)  # and every replica's share
                # What was queued before the reset was learned: the re-adds say it now,
                # and the claims and losses still to hand over are of the fleet's state
                # that is gone (a watch claimed then is added again as it stands here).
                self._claims.clear()
                self._lost.clear()
                self._batches.keep(self._after_reset)
                # Long enough for the replica that polled a watch to find Redis back,
                # through its longest retry delays, and to take it back.
                grace = int((self.lease + 2 * _MAX_DELAY) * 1e6)
                readds = _wire.readds(self.fleet, grace)
                logger.warning(
                    "Redis lost the watch set; adding this replica's %d again", len(readds)
                )
                endings = self._ledger.endings()
                batch = [*endings, *readds, *items]
                if not batch:
                    return True
                try:
                    result = await self._link.run(
                        "batch", int(self.lease * 1e6), self._keep_ms, _wire.batch_items(batch)
                    )
                except Reset as again:
                    epoch = again.epoch
                    continue
                self._settle_batch(batch, result[1])
                return True
