"""Listener: news from the other replicas, read from the fleet's streams in Redis.

Endings, releases, 429s and "work" (unclaimed watches) are entries of one stream, the
fleet's log; events delivered elsewhere are entries of another, read only while an
event stream is open here (from the moment one opens; closed ones are noticed at the
next claim cycle), so that replicas without streams are not flooded with them. The
listener reads on from the last entry it saw (``XREAD BLOCK``), so a reconnect, noticed
or silent, loses nothing: a read that failed is made again from the same entry. Endings
go to this replica's waiters, events to its event streams, a 429 to its pacer, "work" to
its next claim cycle; an expired deadline ends the watch here. When the log lost
entries this replica had not read (trimmed past them, or begun anew by a Redis that came
back empty), it asks Redis how each watch followed here stands (``check``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import orjson

from .._core._store import Fleet
from . import _wire
from ._link import Link, fault

__all__ = ["READ_GAP", "Hub", "Listener"]

logger = logging.getLogger("evs_job_watch")

_CHECK_BATCH = 500  # job ids per check call
_READ_MOST = 500  # entries per read
# Milliseconds a read waits for news: under the client's socket timeout (5 s for a
# client made from a URL), so that a read that waits is not taken for a dead connection.
_BLOCK_MS = 2000
_FIRST = "0-0"  # before every entry
# Seconds between two reads that found news, at least: a read returns with the first
# entry that comes, so without it every ending, release or "work" of any replica would
# cost every replica a round trip; with it, what comes within the gap is read in one.
# Well within the second in which a waiter on any replica hears an ending.
READ_GAP = 0.25


def _order(entry_id: str) -> tuple[int, int]:
    """A stream entry id (``ms-seq``) in the order of the stream."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Hub(Protocol):
    """What the listener needs of its store (``RedisStore``)."""

    @property
    def fleet(self) -> Fleet: ...

    def kick(self) -> None: ...

    async def run(self, op: str, *args: str | int) -> Any: ...


class Listener:
    """Reads the fleet's log (and events, while wanted) from ``start`` to ``stop``."""

    def __init__(self, link: Link, store: Hub) -> None:
        self._link = link
        self._store = store
        self._log = f"{link.prefix}log"
        self._events = f"{link.prefix}events"
        self._read_from = {self._log: _FIRST, self._events: _FIRST}
        self._hearing_events = False
        self._turning = asyncio.Lock()  # one change of hearing at a time (one tail taken)
        self._task: asyncio.Task[None] | None = None
        self.work = False  # the fleet has unclaimed watches
        self._own_events = _wire.event_prefix(link.replica)
        self.calls = 0  # reads made (round trips)

    async def start(self) -> None:
        """Learn where the log ends (news from now on), then read on in a task."""
        self._read_from[self._log] = await self._tail(self._log)
        await self.hear_events(self._store.fleet.listens())  # a stream opened before
        self._task = self._store.fleet.tasks.start(self._listen())  # the watcher's group

    async def hear_events(self, wanted: bool) -> None:
        """Read the events stream while an event stream is open here, from its end now:
        called as a stream opens (``RedisStore.listening``) and at each claim cycle."""
        async with self._turning:
            if wanted == self._hearing_events:
                return
            if wanted:
                self._read_from[self._events] = await self._tail(self._events)
            self._hearing_events = wanted

    async def stop(self) -> None:
        if self._task is not None:
            await self._store.fleet.tasks.stop(self._task)  # again if redis-py's timeout ate it

    async def _tail(self, stream: str) -> str:
        """The id of the last entry of ``stream`` (``0-0`` if it has none)."""

        async def call() -> Any:
            self.calls += 1
            return await self._link.client.xrevrange(stream, count=1)

        last: Any = await self._link.retrying(call)
        return last[0][0].decode() if last else _FIRST

    async def _listen(self) -> None:
        client = self._link.client
        loop = asyncio.get_running_loop()
        while True:
            streams: dict[Any, Any] = {self._log: self._read_from[self._log]}
            if self._hearing_events:
                streams[self._events] = self._read_from[self._events]
            try:
                self.calls += 1
                asked = loop.time()
                answer: Any = await client.xread(streams, count=_READ_MOST, block=_BLOCK_MS)
            except Exception as exc:
                if not fault(exc):
                    raise
                # The same read again once Redis answers: no entry is lost, unless the
                # log lost it (trimmed, or Redis came back empty): then Redis is asked.
                if await self._link.retrying(self._lost_some):
                    await self._catch_up()
                continue
            streams_read = answer.items() if isinstance(answer, dict) else answer or ()
            for stream, entries in streams_read:
                name = stream.decode() if isinstance(stream, bytes) else str(stream)
                for entry_id, fields in entries:
                    self._read_from[name] = entry_id.decode()
                    data = fields.get(b"m")
                    if isinstance(data, bytes):
                        self._heard(data)
            if streams_read:  # news: more may follow at once; read it together
                await asyncio.sleep(max(asked + READ_GAP - loop.time(), 0.0))

    async def _lost_some(self) -> bool:
        """Whether the log may have lost entries not read here: it starts after the last
        one read (trimmed past it, or begun anew by a Redis that lost its data)."""
        self.calls += 1
        first: Any = await self._link.client.xrange(self._log, count=1)
        last = self._read_from[self._log]
        if not first:
            return last != _FIRST
        return _order(first[0][0].decode()) > _order(last)

    async def _catch_up(self) -> None:
        """Endings the log may have lost (a Redis emptied, or trimmed): ask Redis for each."""
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
        # Events of this replica's own, or with no stream open here, are dropped by their
        # first bytes, unparsed.
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
            elif kind == "rdy":
                fleet.readied(str(message["j"]))
            elif kind == "exp":
                fleet.lapsed(str(message["j"]))
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("ignored a malformed message on the fleet's log: %s", exc)

    def _ended(self, job_id: str, data: Any) -> None:
        self._store.fleet.ended(job_id, _wire.outcome_of(data, job_id))
