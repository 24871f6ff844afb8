"""Listener: news from the other replicas, on the fleet's pub/sub channel.

Events delivered elsewhere go to this replica's event streams, endings to its waiters,
a 429 to its pacer, "work" (unclaimed watches) to its next claim cycle. Events travel
on a channel of their own, subscribed only while an event stream is open here (checked
at each claim cycle), so that replicas without streams are not flooded with them. A
message lost while the connection was down would leave a waiter waiting, so after a
reconnect the listener asks Redis how each watch followed here stands (``check``).
(redis-py may also reconnect a subscriber silently, inside ``listen``; such a gap goes
unnoticed: see "Limits" in ``docs/stores.md``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from redis.asyncio.client import PubSub

from .._core._store import Fleet
from . import _wire
from ._link import FAULTS, Link

__all__ = ["Hub", "Listener"]

logger = logging.getLogger("evs_job_watch")

_CHECK_BATCH = 500  # job ids per check call


class Hub(Protocol):
    """What the listener needs of its store (``RedisStore``)."""

    @property
    def fleet(self) -> Fleet: ...

    def kick(self) -> None: ...

    async def run(self, op: str, *args: str | int) -> Any: ...


async def _close(pubsub: PubSub) -> None:
    """Close a subscriber; typed here, as redis-py types ``PubSub.aclose`` only from 8.2."""
    aclose: Callable[[], Awaitable[None]] = pubsub.aclose
    await aclose()


class Listener:
    """Subscribed to the fleet's channel from ``start`` to ``stop``."""

    def __init__(self, link: Link, store: Hub) -> None:
        self._link = link
        self._store = store
        self._channel = f"{link.prefix}fleet"
        self._events = f"{link.prefix}events"
        self._hearing_events = False
        self._task: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None
        self.work = False  # the fleet has unclaimed watches
        self._own_events = _wire.event_prefix(link.replica)
        self.calls = 0  # subscriptions made (round trips)

    async def start(self) -> None:
        """Subscribe (before any watch, so nothing is missed), then listen in a task."""
        self._pubsub = await self._subscribe()
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def hear_events(self, wanted: bool) -> None:
        """Subscribe to the events channel while an event stream is open here."""
        if wanted == self._hearing_events or self._pubsub is None:
            return
        self._hearing_events = wanted
        with contextlib.suppress(*FAULTS):  # a reconnect subscribes again by itself
            if wanted:
                await self._pubsub.subscribe(self._events)
            else:
                await self._pubsub.unsubscribe(self._events)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._pubsub is not None:
            await _close(self._pubsub)

    async def _subscribe(self) -> PubSub:
        async def call() -> PubSub:
            self.calls += 1
            pubsub = self._link.client.pubsub(ignore_subscribe_messages=True)
            try:
                channels = [self._channel, *([self._events] if self._hearing_events else [])]
                await pubsub.subscribe(*channels)
            except BaseException:
                await _close(pubsub)
                raise
            return pubsub

        return await self._link.retrying(call)

    async def _listen(self) -> None:
        while True:
            assert self._pubsub is not None
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        self._heard(message["data"])
            except FAULTS:
                await _close(self._pubsub)
                self._pubsub = await self._subscribe()
                await self._catch_up()

    async def _catch_up(self) -> None:
        """Endings published while the connection was down: ask Redis for each."""
        store = self._store
        followed = [watch.job_id for watch in store.fleet.watches() if not watch.polling]
        for start in range(0, len(followed), _CHECK_BATCH):
            chunk = followed[start : start + _CHECK_BATCH]
            answers = await store.run("check", *chunk)
            for job_id, answer in zip(chunk, answers, strict=True):
                if answer not in (b"live", b"gone"):
                    self._ended(job_id, orjson.loads(answer))
        self.work = True
        store.kick()

    def _heard(self, data: bytes) -> None:
        # Most messages are events; with no stream open here, or this replica's own, they
        # are dropped by their first bytes, unparsed.
        if data.startswith(_wire.EVENT) and (
            data.startswith(self._own_events) or not self._store.fleet.listens()
        ):
            return
        try:
            message: dict[str, Any] = orjson.loads(data)
            kind = message.get("k")
            if kind == "work":
                self.work = True
                self._store.kick()
                return
            if message.get("r") == self._link.replica:
                return  # this replica's own news
            fleet = self._store.fleet
            if kind == "ev":
                fleet.heard(_wire.events_of(message))
            elif kind == "end":
                self._ended(str(message["j"]), message["o"])
            elif kind == "rel":
                fleet.ended(str(message["j"]), None)
            elif kind == "thr":
                fleet.throttled(float(message["p"]))
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("ignored a malformed message on the fleet channel: %s", exc)

    def _ended(self, job_id: str, data: Any) -> None:
        self._store.fleet.ended(job_id, _wire.outcome_of(data, job_id))
