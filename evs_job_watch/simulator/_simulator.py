"""`EvsSimulator`: the EVS job API on loopback, over aiohttp.web.

The job query is the hot path (benchmarks push it hard): one dict lookup for the
job, a bisect for its state, a cached body; faults cost nothing unless enabled.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import web

from ._answers import (
    JSON,
    Answer,
    BadRequest,
    RequestRecord,
    bad_request,
    int_field,
    item_not_found,
    json_object,
    read_json,
)
from ._faults import Faults, Reply, canned_body, error_body, fault_reply, gateway_body, pick_fault
from ._identity import Credentials, Identity
from ._jobs import Duration
from ._scenario import Scenario
from ._throttle import RateLimit, TokenBucket
from ._volumes import Quirks, VolumeApi

__all__ = ["EvsSimulator"]

_NOT_FOUND = error_body("Common.0011", "query job fail.")


class EvsSimulator(Scenario, Credentials):
    """An EVS look-alike on 127.0.0.1 for tests, demos and benchmarks.

    Jobs follow timelines decided at creation on the event loop's clock; `speed` is
    simulated seconds per loop second. `faults` applies to the job query only and
    may be reassigned at any time. Every request lands in `requests`; see
    `transitions`, `statuses`, `outcome`, `ended_at` for the ground truth.

    It also plays IAM (``POST /v3/auth/tokens`` for `identity.username`, `.password`
    and `.domain_name`, scoped to `project_id` or `identity.project_name`) and the metadata
    service (temporary keys at ``/openstack/latest/securitykey``, session tokens at
    ``/meta-data/latest/api/token``): what they hand out is accepted until it expires.
    With `ssl`, it serves https.

    Args:
        host: a loopback address only (``localhost`` means 127.0.0.1).
        port: 0 picks a free port (see `endpoint`).
        project_id: the project id served; drawn from `seed` by default.
        token: the X-Auth-Token accepted; drawn from `seed` by default.
        access_key: the AK of the signatures accepted; drawn from `seed` by default.
        secret_key: the SK of the signatures accepted; drawn from `seed` by default.
        password: the IAM password accepted; drawn from `seed` by default.
        speed: simulated seconds per loop second.
        seed: seeds every random choice (timelines, outcomes, faults, identity).
        faults: the random faults of the job query.
        failure_rate: probability that a random job or sub-job ends in FAIL.
        invisible_for: simulated seconds a new job answers not-found.
        durations: per job type, a `Duration` or fixed simulated seconds
            (for batchCreateVolume: each sub-job's).
        keep_requests: keep only the last N request records (None: all).
        token_lifetime: simulated seconds an IAM token lasts (a day by default).
        key_lifetime: simulated seconds temporary keys last (an hour by default).
        metadata_session_tokens: False plays an older metadata service without them.
        ssl: a server-side context: serve https with its certificate.
        rate_limit: the API gateway's token bucket for the whole account, on the job
            query (after scripted replies, before random faults); may be reassigned.
        quirks: a disk that turns usable after its job's SUCCESS, a SUCCESS read too
            early (the disk API, ``/v2/{project_id}/os-vendor-volumes``, is served too).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        project_id: str | None = None,
        token: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        password: str | None = None,
        speed: float = 1.0,
        seed: int = 0,
        failure_rate: float = 0.0,
        faults: Faults = Faults(),  # noqa: B008 - frozen value object
        rate_limit: RateLimit | None = None,
        invisible_for: float = 0.0,
        durations: Mapping[str, Duration | float] | None = None,
        keep_requests: int | None = None,
        token_lifetime: float = 86400.0,
        key_lifetime: float = 3600.0,
        metadata_session_tokens: bool = True,
        ssl: ssl.SSLContext | None = None,
        quirks: Quirks = Quirks(),  # noqa: B008 - frozen value object
    ) -> None:
        super().__init__(
            seed=seed,
            speed=speed,
            failure_rate=failure_rate,
            invisible_for=invisible_for,
            durations=durations,
            quirks=quirks,
        )
        host = "127.0.0.1" if host == "localhost" else host  # one address, one port
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the simulator only listens on loopback, not {host!r}")
        self._host = host
        self._port = port
        identity_rng = random.Random(f"evs-sim:{seed}:identity")
        self.project_id = project_id or f"{identity_rng.getrandbits(128):032x}"
        self.identity = Identity(
            identity_rng,
            now=self._now,
            wall=self.wall_time,
            record=self._record,
            speed=self.speed,
            project_id=self.project_id,
            token=token,
            access_key=access_key,
            secret_key=secret_key,
            password=password,
            token_lifetime=token_lifetime,
            key_lifetime=key_lifetime,
            metadata_session_tokens=metadata_session_tokens,
        )
        self._ssl = ssl
        self.faults = faults  # through the setter: caches whether any fault is on
        self._fault_rng = random.Random(f"evs-sim:{seed}:faults")
        self.rate_limit = rate_limit
        self._injected: dict[str, deque[Reply]] = {}
        self.requests: deque[RequestRecord] = deque(maxlen=keep_requests)
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None

    @property
    def faults(self) -> Faults:
        """The random faults of the job query; assign a new `Faults` at any time."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._faults = value
        self._faults_active = value.active

    @property
    def rate_limit(self) -> RateLimit | None:
        """The account's token bucket; a new one takes effect, full, when assigned."""
        return None if self._bucket is None else self._bucket.limit

    @rate_limit.setter
    def rate_limit(self, value: RateLimit | None) -> None:
        start = None if self._loop is None else self._now()  # None: at the first query
        self._bucket = None if value is None else TokenBucket(value, self.speed, start)

    def _record(self, method: str, path: str, status: int) -> None:
        self.requests.append(RequestRecord(method, path, None, status, None, self._now()))

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:<port>` once started (https with `ssl`)."""
        if self._runner is None:
            raise RuntimeError("the simulator is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{host}:{self._port}"

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Bind the port and serve; the loop-to-wall time offset is fixed here."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        self._now()
        app = web.Application()
        router = app.router
        router.add_get("/v1/{project_id}/jobs/{job_id}", self._get_job, allow_head=False)
        router.add_post("/v2/{project_id}/cloudvolumes", self._create)
        router.add_post("/v2/{project_id}/cloudvolumes/{volume_id}/action", self._action)
        router.add_delete("/v2/{project_id}/cloudvolumes/{volume_id}", self._delete)
        self.identity.add_routes(router)
        VolumeApi(self, self._check, lambda: self._bucket).add_routes(router)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port, ssl_context=self._ssl)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Close the server and its connections (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def serve_forever(self) -> None:
        """Serve until cancelled (starting if needed), then stop."""
        if self._runner is None:
            await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> EvsSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- scripted replies --------------------------------------------------

    def inject(self, job_id: str, *replies: Reply | int) -> None:
        """Queue exact answers for the next queries of `job_id` (an int is a bare status).

        Queued replies skip the random faults; requests failing auth do not use them.
        """
        queue = self._injected.setdefault(job_id, deque())
        queue.extend(Reply(status=r) if isinstance(r, int) else r for r in replies)

    # -- handlers ----------------------------------------------------------

    async def _get_job(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        try:
            arrived = self._now()
            job_id = request.match_info["job_id"]
            (status, body, ctype, headers), fault, at = await self._answer_job(request, job_id)
            agent = request.headers.get("User-Agent")
            self.requests.append(
                RequestRecord("GET", request.path, job_id, status, fault, at, arrived, agent)
            )
            response = web.Response(status=status or 500, body=body, content_type=ctype)
            if status == 0:
                # Close without answering: the client sees a server disconnect, and
                # aiohttp drops the unsendable response quietly.
                if request.transport is not None:
                    request.transport.close()
                return response
            if headers:
                response.headers.update(headers)
            try:
                await response.prepare(request)
                await response.write_eof()
            except ConnectionError:
                pass
            return response
        finally:
            self.in_flight -= 1

    async def _answer_job(
        self, request: web.Request, job_id: str
    ) -> tuple[Answer, str | None, float]:
        """The answer, the fault applied, and the loop time the answer was decided."""
        denied = await self._check(request)
        if denied is not None:
            return denied, None, self._now()
        queue = self._injected.get(job_id)
        if queue:
            reply = queue.popleft()
            if not queue:
                del self._injected[job_id]
            if reply.delay:
                await asyncio.sleep(reply.delay)
            now = self._now()
            return self._scripted(reply, job_id, now), "injected", now
        if self._bucket is not None:
            refused = self._bucket.refuse(self._now(), self._fault_rng)
            if refused is not None:
                return refused, "rate_limit", self._now()
        if not self._faults_active:
            now = self._now()
            return self._job_answer(job_id, now), None, now
        faults = self._faults
        rng = self._fault_rng
        fault = pick_fault(faults, rng)
        if faults.latency is not None:
            await asyncio.sleep(rng.uniform(*faults.latency))
        now = self._now()
        if fault is None:
            applied = None if faults.latency is None else "latency"
            return self._job_answer(job_id, now), applied, now
        if fault == "drop":
            return (0, b"", JSON, None), fault, now
        if fault == "truncated":
            status, body, ctype, _ = self._job_answer(job_id, now)
            return (status, body[: len(body) // 2], ctype, None), fault, now
        return fault_reply(fault, faults, rng), fault, now

    def _scripted(self, reply: Reply, job_id: str, now: float) -> Answer:
        if reply.drop:
            return 0, b"", JSON, None
        if reply.status is None and reply.body is None:
            status, body, ctype, _ = self._job_answer(job_id, now)
        elif reply.body is None:
            status = reply.status or 200
            body, ctype = canned_body(status, self._fault_rng)
        else:
            status, body, ctype = reply.status or 200, reply.body, reply.content_type
        return status, body, ctype, reply.headers

    def _job_answer(self, job_id: str, now: float) -> Answer:
        job = self._jobs.get(job_id)
        if job is not None and now >= job.visible_at:
            body = job.body_at(now)
            if body is not None:
                return 200, body, JSON, None
        return 400, _NOT_FOUND, JSON, None

    async def _check(self, request: web.Request) -> Answer | None:
        """Gateway auth (token or AK/SK), then the project id of the path."""
        body = await request.read() if "Authorization" in request.headers else b""
        denied = self.identity.check(request, body)
        if denied is not None:
            return self._gateway_error(*denied)
        if request.match_info["project_id"] != self.project_id:
            message = "The project ID in the URL does not match the project of the token."
            return 400, error_body("Common.0018", message), JSON, None
        return None

    def _gateway_error(self, status: int, code: str, detail: str) -> Answer:
        message = f"Incorrect IAM authentication information: {detail}"
        return status, gateway_body(code, message, self._fault_rng), JSON, None

    async def _create(self, request: web.Request) -> web.Response:
        async def act() -> Answer:
            volume = json_object(await read_json(request), "volume")
            size = int_field(volume, "size", 10, 32768)
            volume_type = volume.get("volume_type")
            name = volume.get("name", "")
            if not isinstance(volume_type, str) or not volume_type or not isinstance(name, str):
                raise BadRequest("Invalid input: volume_type and name must be strings.")
            count = int_field(volume, "count", 1, 100, default=1)
            name = name or f"volume-{self._rng.getrandbits(16):04x}"
            job_id = self._spawn_create(size, volume_type, name, count, batch=count > 1)
            return 202, orjson.dumps({"job_id": job_id}), JSON, None

        return await self._volume_call(request, act)

    async def _action(self, request: web.Request) -> web.Response:
        async def act() -> Answer:
            volume_id = request.match_info["volume_id"]
            volume = self.volumes.get(volume_id)
            if volume is None:
                return item_not_found(volume_id)
            extend = json_object(await read_json(request), "os-extend")
            new_size = int_field(extend, "new_size", 10, 32768)
            if new_size <= volume.size:
                raise BadRequest("New size for extend must be greater than current size.")
            volume.size = new_size
            job_id = self._spawn("extendVolume", {"volume_id": volume_id, "size": new_size})
            return 202, orjson.dumps({"job_id": job_id}), JSON, None

        return await self._volume_call(request, act)

    async def _delete(self, request: web.Request) -> web.Response:
        async def act() -> Answer:
            volume_id = request.match_info["volume_id"]
            if self.volumes.pop(volume_id, None) is None:
                return item_not_found(volume_id)
            job_id = self._spawn("deleteVolume", {"volume_id": volume_id})
            return 200, orjson.dumps({"job_id": job_id}), JSON, None

        return await self._volume_call(request, act)

    async def _volume_call(
        self, request: web.Request, act: Callable[[], Awaitable[Answer]]
    ) -> web.Response:
        answer = await self._check(request)
        if answer is None:
            try:
                answer = await act()
            except BadRequest as exc:
                answer = bad_request(str(exc))
        status, body, ctype, _ = answer
        job_id = orjson.loads(body)["job_id"] if status in (200, 202) else None
        self.requests.append(
            RequestRecord(request.method, request.path, job_id, status, None, self._now())
        )
        return web.Response(status=status, body=body, content_type=ctype)
