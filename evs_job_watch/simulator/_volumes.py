"""Disks that follow their jobs, the disk API, and the two quirks of a job's SUCCESS.

A disk's status is a timeline decided when a job acts on it, like a job's: ``creating``
then ``available`` (``error`` if the job fails), ``extending`` then ``available`` at the
new size (``error_extending``), ``deleting`` then gone (``error_deleting``),
``attaching`` then ``in-use`` and ``detaching`` then ``available`` (ECS jobs). It serves
``GET /v2/{project_id}/os-vendor-volumes/detail?ids=[...]`` (at most 60 ids, ids not
known ignored) and ``GET /v2/{project_id}/os-vendor-volumes/{volume_id}`` behind the
same gateway as the job query: its auth, its rate limit and its random faults.

The quirks (`Quirks`): a disk may turn usable some time after its job's SUCCESS
(``volume_lag``), and a job may read SUCCESS once shortly before it really ends, then
RUNNING again (``early_success``), as ECS attach jobs have been seen to.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Mapping, MutableSequence
from typing import Any, Protocol

import attrs
import orjson
from aiohttp import web

from ._answers import JSON, Answer, RequestRecord, bad_request, item_not_found
from ._faults import Faults, fault_reply, pick_fault
from ._jobs import SimJob, format_time
from ._throttle import TokenBucket

__all__ = [
    "MAX_IDS",
    "Disks",
    "Gateway",
    "Quirks",
    "VolumeApi",
    "add_options",
    "parse_ids",
    "quirks_from_args",
]

MAX_IDS = 60  # disks one listing answers at most
_USABLE = ("available", "in-use")
# What a job does to the disk its entities name: (status while it runs, on SUCCESS, on
# FAIL); None on SUCCESS: the disk is gone.
_EFFECTS: Mapping[str, tuple[str, str | None, str]] = {
    "createVolume": ("creating", "available", "error"),
    "extendVolume": ("extending", "available", "error_extending"),
    "retypeVolume": ("retyping", "available", "available"),
    "deleteVolume": ("deleting", None, "error_deleting"),
    "deleteSingleVolume": ("deleting", None, "error_deleting"),
    "attachVolume": ("attaching", "in-use", "available"),
    "detachVolume": ("detaching", "available", "in-use"),
}


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class Quirks:
    """How a job's SUCCESS can run ahead of its disk, as some clouds have been seen to.

    Args:
        volume_lag: simulated seconds from a job's SUCCESS to its disk's new status
            (``available``, ``in-use``, gone); the disk reads its running status until then.
        early_success: simulated seconds before a job really ends during which the first
            query reads SUCCESS, once; later queries read RUNNING again until the real
            end. It applies to every job that ends in SUCCESS; 0 turns it off.
    """

    volume_lag: float = attrs.field(default=0.0, validator=_non_negative)
    early_success: float = attrs.field(default=0.0, validator=_non_negative)


# (loop time, status, size, servers attached); status None: gone.
DiskStep = tuple[float, str | None, int, tuple[str, ...]]


@attrs.define
class _Disk:
    volume_id: str
    name: str
    volume_type: str
    created_at: str
    steps: list[DiskStep]

    def at(self, now: float) -> DiskStep | None:
        index = bisect_right(self.steps, now, key=lambda step: step[0]) - 1
        return self.steps[index] if index >= 0 else None


class Disks:
    """Every disk a job acted on, by id, with its decided timeline (ground truth too)."""

    def __init__(self, quirks: Quirks, speed: float, wall: Callable[[float], float]) -> None:
        self.quirks = quirks
        self._speed = speed
        self._wall = wall  # loop time to epoch seconds
        self._disks: dict[str, _Disk] = {}

    def follow(self, job: SimJob, known: Mapping[str, Any]) -> None:
        """A job was registered: its disks (and its sub-jobs') follow it; the quirk of
        an early SUCCESS is decided for it. ``known``: the scenario's volumes by id."""
        early = self.quirks.early_success
        if early and job.outcome == "SUCCESS" and len(job.steps) > 1:
            job.flash_at = max(job.ended_at - early / self._speed, job.steps[-2][0])
        for one in (job, *job.subs):
            effect = _EFFECTS.get(one.job_type)
            volume_id = one.entities.get("volume_id")
            if effect is not None and isinstance(volume_id, str):
                self._act(one, volume_id, effect, known.get(volume_id))

    def _act(
        self, job: SimJob, volume_id: str, effect: tuple[str, str | None, str], volume: Any
    ) -> None:
        start = job.steps[0][0]
        disk = self._disks.get(volume_id)
        if disk is None or job.job_type == "createVolume":
            name = getattr(volume, "name", None) or job.entities.get("name") or volume_id[:8]
            kind = getattr(volume, "volume_type", None) or job.entities.get("volume_type", "SSD")
            size = int(job.entities.get("size") or getattr(volume, "size", None) or 10)
            disk = _Disk(volume_id, str(name), str(kind), format_time(self._wall(start)), [])
            if job.job_type != "createVolume":  # it existed before this job
                disk.steps.append((-math.inf, "available", size, ()))
            self._disks[volume_id] = disk
        before = disk.at(start) or (start, "available", 0, ())
        size, servers = before[2], before[3]
        if job.job_type in ("createVolume", "extendVolume"):
            new_size = int(job.entities.get("size") or size)
        else:
            new_size = size
        server = job.entities.get("server_id")
        after = servers
        if job.job_type == "attachVolume" and isinstance(server, str):
            after = (*servers, server)
        elif job.job_type == "detachVolume":
            after = tuple(one for one in servers if one != server)
        running, success, failure = effect
        created = job.job_type == "createVolume"
        steps: list[DiskStep] = [(start, running, new_size if created else size, servers)]
        if job.outcome == "SUCCESS":
            at = job.ended_at + self.quirks.volume_lag / self._speed
            steps.append((at, success, new_size, after))
        elif job.outcome == "FAIL":
            steps.append((job.ended_at, failure, size, servers))
        disk.steps = sorted([s for s in disk.steps if s[0] < start] + steps, key=_time)

    def exists(self, volume_id: str, size: int, volume_type: str, name: str, now: float) -> None:
        """A disk made without a job (``Scenario.add_volume``): ``available`` from now."""
        created = format_time(self._wall(now))
        self._disks[volume_id] = _Disk(
            volume_id, name, volume_type, created, [(now, "available", size, ())]
        )

    def render(self, volume_id: str, now: float) -> dict[str, Any] | None:
        """The disk as the API shows it at loop time ``now``; None: unknown or gone."""
        disk = self._disks.get(volume_id)
        step = None if disk is None else disk.at(now)
        if disk is None or step is None or step[1] is None:
            return None
        _, status, size, servers = step
        return {
            "id": volume_id,
            "name": disk.name,
            "status": status,
            "size": size,
            "volume_type": disk.volume_type,
            "created_at": disk.created_at,
            "attachments": [
                {"server_id": server, "volume_id": volume_id, "attachment_id": f"{n:08x}-a"}
                for n, server in enumerate(servers)
            ],
            "bootable": "false",
            "multiattach": False,
        }

    def status(self, volume_id: str, now: float) -> str | None:
        """The disk's status at loop time ``now`` (ground truth); None: unknown or gone."""
        shown = self.render(volume_id, now)
        return None if shown is None else str(shown["status"])

    def usable_at(self, volume_id: str) -> float:
        """The loop time from which the disk stays ``available``/``in-use`` (inf: never)."""
        disk = self._disks.get(volume_id)
        steps = [] if disk is None else disk.steps
        if not steps or steps[-1][1] not in _USABLE:
            return math.inf
        index = len(steps) - 1
        while index > 0 and steps[index - 1][1] in _USABLE:
            index -= 1
        return steps[index][0]


def _time(step: DiskStep) -> float:
    return step[0]


def parse_ids(text: str) -> list[str]:
    """``['id1','id2']`` (quotes and brackets optional) as ids; empty items dropped."""
    inner = text.strip().removeprefix("[").removesuffix("]")
    return [item.strip().strip("'\"").strip() for item in inner.split(",") if item.strip()]


Check = Callable[[web.Request], Awaitable[Answer | None]]


class Gateway(Protocol):
    """What the disk routes share with the job query (an ``EvsSimulator``)."""

    disks: Disks
    faults: Faults

    @property
    def requests(self) -> MutableSequence[RequestRecord]: ...

    project_id: str


class VolumeApi:
    """The disk routes, behind the gateway of the job query: its auth and project check
    (``check``), its account's token bucket (``bucket``) and its random faults."""

    def __init__(
        self, gateway: Gateway, check: Check, bucket: Callable[[], TokenBucket | None]
    ) -> None:
        self._gateway = gateway
        self._disks = gateway.disks
        self._check = check
        self._bucket = bucket
        # A stream of its own: reading disks never changes the job query's faults.
        self._rng = random.Random(f"evs-sim:{gateway.project_id}:disk-faults")

    def _now(self) -> float:
        return asyncio.get_running_loop().time()  # the simulator's clock: the loop's

    def _refuse(self) -> Answer | None:
        bucket = self._bucket()
        return None if bucket is None else bucket.refuse(self._now(), self._rng)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        base = "/v2/{project_id}/os-vendor-volumes"
        router.add_get(base + "/detail", self._listing, allow_head=False)
        router.add_get(base + "/{volume_id}", self._one, allow_head=False)

    async def _listing(self, request: web.Request) -> web.StreamResponse:
        def answer(now: float) -> Answer:
            text = request.query.get("ids")
            ids = parse_ids(text) if text is not None else None
            if ids is not None and len(ids) > MAX_IDS:
                return bad_request(f"Invalid input: at most {MAX_IDS} ids a query.")
            shown = [self._disks.render(one, now) for one in dict.fromkeys(ids or ())]
            volumes = [one for one in shown if one is not None]
            return 200, orjson.dumps({"volumes": volumes, "count": len(volumes)}), JSON, None

        return await self._serve(request, answer)

    async def _one(self, request: web.Request) -> web.StreamResponse:
        volume_id = request.match_info["volume_id"]

        def answer(now: float) -> Answer:
            shown = self._disks.render(volume_id, now)
            if shown is None:
                return item_not_found(volume_id)
            return 200, orjson.dumps({"volume": shown}), JSON, None

        return await self._serve(request, answer)

    async def _serve(
        self, request: web.Request, answer: Callable[[float], Answer]
    ) -> web.StreamResponse:
        reply, fault = await self._answer(request, answer)
        status, body, ctype, headers = reply
        self._gateway.requests.append(
            RequestRecord("GET", request.path, None, status, fault, self._now())
        )
        if status == 0:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        response = web.Response(status=status, body=body, content_type=ctype)
        if headers:
            response.headers.update(headers)
        return response

    async def _answer(
        self, request: web.Request, answer: Callable[[float], Answer]
    ) -> tuple[Answer, str | None]:
        denied = await self._check(request)
        if denied is not None:
            return denied, None
        refused = self._refuse()
        if refused is not None:
            return refused, "rate_limit"
        faults = self._gateway.faults
        if not faults.active:
            return answer(self._now()), None
        fault = pick_fault(faults, self._rng)
        if faults.latency is not None:
            await asyncio.sleep(self._rng.uniform(*faults.latency))
        if fault is None:
            return answer(self._now()), None if faults.latency is None else "latency"
        if fault == "drop":
            return (0, b"", JSON, None), fault
        if fault == "truncated":
            status, body, ctype, _ = answer(self._now())
            return (status, body[: len(body) // 2], ctype, None), fault
        return fault_reply(fault, faults, self._rng), fault


def add_options(parser: argparse.ArgumentParser) -> None:
    """The quirks' command line options."""
    group = parser.add_argument_group("quirks of a job's SUCCESS (simulated seconds)")
    group.add_argument(
        "--volume-lag", type=float, default=0.0, help="from a job's SUCCESS to its disk's"
    )
    group.add_argument(
        "--early-success", type=float, default=0.0, help="a job reads SUCCESS once this early"
    )


def quirks_from_args(args: argparse.Namespace) -> Quirks:
    """`Quirks` from parsed `add_options` options (ValueError names the option)."""
    return Quirks(volume_lag=args.volume_lag, early_success=args.early_success)
