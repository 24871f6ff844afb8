"""EvsJobClient: one job query over aiohttp, with the API's errors mapped to ours."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType

import aiohttp
from yarl import URL

from .._credentials._auth import Auth
from .._errors import (
    AuthenticationError,
    EvsJobWatchError,
    MalformedResponseError,
)
from .._models import Job, Volume
from .._validate import check_id, positive_int
from .._wire._codec import Answer, decode_job, error_fields
from .._wire._http import (
    MAX_BODY_BYTES,
    HttpOptions,
    HttpSettings,
    Remote,
    Unpack,
    http_settings,
    read_capped,
)
from ._environment import read_settings
from ._refusals import error_for, logged, refusal, try_loads
from ._volumes import read_volumes

__all__ = ["EvsJobClient"]

logger = logging.getLogger("evs_job_watch")  # see docs/logging.md; never a header or body
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_KEPT_URLS = 4096  # job URLs kept at most: each poll of a job kept builds none


def _for_job(error: EvsJobWatchError, job_id: str | None) -> EvsJobWatchError:
    """A copy of a credential source's error, about this job.

    A renewal shares one error among every request that waited for it; each raises a
    copy of its own (no shared traceback, no context), with the job it was for.
    """
    mine = copy.copy(error)
    if hasattr(mine, "job_id"):
        mine.job_id = job_id
    return mine


class EvsJobClient:
    """Queries EVS (or ECS) jobs: ``await client.get_job(job_id)``.

    Args:
        endpoint: the EVS endpoint, e.g. ``https://evs.eu-de.otc.t-systems.com`` (see
            ``endpoint_for``); an ECS endpoint serves server jobs the same way.
        project_id: the project the jobs belong to.
        auth: a ``TokenAuth``, ``AkSkAuth`` or ``PasswordAuth``; None sends no credentials.
        session: an aiohttp session to use; the client then never closes it.
        max_connections: the connection pool size of a session the client creates.
        http: the connection settings (``HttpSettings``), which may be shared with a
            ``PasswordAuth``; by default ``HttpSettings()``.
        **options: fields of ``HttpSettings`` given one by one, each in place of that
            field of ``http``: ``timeout`` (seconds one request may take, default 30),
            ``allow_insecure_http`` (permit ``http://`` to a host that is not loopback),
            ``ssl`` (None for the system's CAs, an ``ssl.SSLContext`` that verifies, or
            the path of a PEM CA bundle trusted as well; never a switch to turn
            verification off), ``proxy`` (a proxy URL for every request) and
            ``trust_env`` (without ``proxy``, ``HTTPS_PROXY``/``NO_PROXY`` decide).
    """

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        *,
        auth: Auth | None = None,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 100,
        http: HttpSettings | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        self._remote = Remote(http_settings(http, options, "EvsJobClient"), endpoint)
        self._endpoint = self._remote.endpoint
        self._project_id = check_id(project_id, "project id")
        positive_int(max_connections, "max_connections")
        self._auth = auth
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._max_connections = max_connections
        self._base = URL(self._endpoint, encoded=True)
        self._path = f"{self._base.raw_path.rstrip('/')}/v1/{self._project_id}/jobs/"
        self._urls: dict[str, URL] = {}  # job id: its URL, built once (_job_url)
        # A credential's headers when ready without awaiting (see Auth), else None.
        self._ready_headers: Callable[[str, URL], Mapping[str, str] | None] | None = getattr(
            auth, "current_headers", None
        )

    @classmethod
    async def from_environment(
        cls,
        cloud: str | None = None,
        *,
        service: str = "evs",
        provider: str | None = None,
        region: str | None = None,
        endpoint: str | None = None,
        project_id: str | None = None,
        environ: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 100,
        http: HttpSettings | None = None,
        **options: Unpack[HttpOptions],
    ) -> EvsJobClient:
        """A client configured as openstacksdk users expect: ``OS_CLOUD`` and clouds.yaml
        (``cloud`` names the entry), overridden by ``OS_*`` variables, overridden by the
        arguments given here.

        Credentials, by rank: ``OS_AUTH_TOKEN``; an access key pair (``OS_ACCESS_KEY`` /
        ``OS_SECRET_KEY``, ``HUAWEICLOUD_SDK_AK`` / ``_SK``, ``CLOUD_SDK_AK`` / ``_SK``,
        each with its ``_SECURITY_TOKEN``); a user name and password for IAM. A project
        given only by name is looked up with IAM here, so this is a coroutine.

        Args:
            cloud: the ``clouds.yaml`` entry to read (default ``OS_CLOUD``), as in
                openstacksdk; not the provider (that is ``provider``, the command line's
                ``--cloud``).
            service: ``"evs"`` (disk jobs) or ``"ecs"`` (server jobs): picks the endpoint.
            provider: ``"otc"`` or ``"huawei"``; by default from the IAM ``auth_url``,
                else Open Telekom Cloud (the command line's ``--cloud``).
            environ: the variables to read (default ``os.environ``).
            session: as for ``EvsJobClient``.
            max_connections: as for ``EvsJobClient``.
            http: the connection settings of the client and of IAM alike (the
                configuration's CA bundle, ``cacert``, is trusted where they name none).
            **options: fields of ``HttpSettings`` one by one, as for ``EvsJobClient``.
        """
        settings = read_settings(
            os.environ if environ is None else environ,
            cloud=cloud,
            service=service,
            provider=provider,
            region=region,
            endpoint=endpoint,
            project_id=project_id,
            http=http_settings(http, options, "EvsJobClient.from_environment"),
        )
        project = settings.project_id
        if project is None:
            assert settings.resolve_project_id is not None
            project = await settings.resolve_project_id()
        return cls(
            settings.endpoint,
            project,
            auth=settings.auth,
            session=session,
            max_connections=max_connections,
            http=settings.http,
        )

    def __repr__(self) -> str:
        return f"EvsJobClient({self._endpoint!r}, {self._project_id!r})"

    @property
    def endpoint(self) -> str:
        """The endpoint the client queries, without a trailing slash."""
        return self._endpoint

    @property
    def project_id(self) -> str:
        """The project the queried jobs belong to."""
        return self._project_id

    @property
    def http(self) -> HttpSettings:
        """The connection settings in force (``http=`` with the keywords given over it)."""
        return self._remote.http

    async def __aenter__(self) -> EvsJobClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if the client created it; a caller's session stays open.

        The client queries nothing after this (``RuntimeError``): a new session would
        never be closed.
        """
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._remote.session(self._max_connections)
        return self._session

    async def get_job(self, job_id: str) -> Job:
        """The job's current state; raises an ``EvsJobWatchError`` subclass on failure."""
        return (await self.poll_job(job_id)).job

    async def poll_job(self, job_id: str, last: Answer | None = None) -> Answer:
        """Like ``get_job``, for a caller that polls: ``last`` itself when the body is the
        one ``last`` was decoded from (then nothing is decoded), else the new answer.

        A running job answers the same bytes poll after poll, so most polls end here.
        """
        # One coroutine per poll: the request, its read and the answer inline (a poll's
        # own cost is what a bare loop pays; see benchmarks/README.md, issue 24).
        if self._closed:
            raise RuntimeError("the client is closed (its `async with` was left, or aclose)")
        url = self._urls.get(job_id) if type(job_id) is str else None  # else check_id says
        if url is None:
            url = self._job_url(job_id)
        auth, ready = self._auth, self._ready_headers
        headers = _NO_HEADERS if auth is None else ready("GET", url) if ready else None
        if headers is None:  # credentials to fetch or renew first
            headers = await self._credentials(url, job_id)
        remote, session = self._remote, self._session
        if session is None:
            session = self._get_session()
        retried = False  # once, after the credential was refreshed
        while True:
            failure: EvsJobWatchError | None = None
            try:
                try:
                    response = await session.get(url, headers=headers, **remote.options)
                    try:
                        remote.answered = True
                        status, reply_headers = response.status, response.headers
                        length = response.content_length
                        if (
                            length is not None
                            and length <= MAX_BODY_BYTES
                            and "Content-Encoding" not in reply_headers
                        ):
                            body: bytes | None = await response.read()  # the usual case
                        else:
                            body = await read_capped(response)
                    finally:
                        response.release()
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    failure = remote.failure(exc, url, job_id)
                if failure is not None:  # raised outside the handler: see Remote.ask
                    logger.debug("GET job failed: %s", failure, extra={"job_id": job_id})
                    raise failure
                if status == 200 and body is not None:
                    digest = hash(body)  # as answer_from: an unchanged body is not decoded
                    if last is not None and last.digest == digest:
                        return last
                    return Answer(_job_in(body, job_id), digest)
                raise refusal(status, reply_headers, body, job_id)
            except AuthenticationError:
                if retried or auth is None or not await self._refresh(headers, job_id):
                    raise
            retried = True
            headers = await self._credentials(url, job_id)

    def _job_url(self, job_id: str) -> URL:
        """The URL of ``job_id`` (checked), kept for the next poll of the same job."""
        url = self._base.with_path(self._path + check_id(job_id), encoded=True)
        urls = self._urls
        if len(urls) >= _KEPT_URLS:
            urls.clear()  # a bounded memo: watching more jobs costs a build per poll
        urls[job_id] = url
        return url

    async def _credentials(self, url: URL, job_id: str | None) -> Mapping[str, str]:
        assert self._auth is not None
        failed: EvsJobWatchError
        try:
            return await self._auth.headers("GET", url)
        except EvsJobWatchError as exc:
            failed = _for_job(exc, job_id)  # a renewal's error, shared by every waiter
        raise failed  # outside the handler: no shared error as context

    async def _refresh(self, used: Mapping[str, str], job_id: str | None) -> bool:
        assert self._auth is not None
        failed: EvsJobWatchError
        try:
            return await self._auth.refresh(used)
        except EvsJobWatchError as exc:
            failed = _for_job(exc, job_id)
        raise failed

    async def list_volumes(self, volume_ids: Iterable[str]) -> list[Volume]:
        """The disks of ``volume_ids`` the API knows, by the EVS disk listing (60 ids a
        request, more split); errors, credentials and hostile bodies as for ``get_job``."""
        return await read_volumes(self._read, f"{self._endpoint}/v2/{self._project_id}", volume_ids)

    async def _read(self, url: URL) -> bytes:
        """One GET of the disk API: the 200 body, with the credentials of a job query."""
        if self._auth is None:
            return await self._fetch(url, _NO_HEADERS)
        headers = await self._credentials(url, None)
        try:
            return await self._fetch(url, headers)
        except AuthenticationError:
            if not await self._refresh(headers, None):
                raise
        return await self._fetch(url, await self._credentials(url, None))

    async def _fetch(self, url: URL, headers: Mapping[str, str]) -> bytes:
        status, reply_headers, body = await self._remote.ask(self._exchange(url, headers), url)
        if status == 200 and body is not None:
            data = try_loads(body)  # a 200 holding an error object is that error
            if type(data) is not dict or "volumes" in data or not error_fields(data):
                return body
            raise logged(error_for(200, data, _NO_HEADERS, None))
        raise refusal(status, reply_headers, body, None)

    async def _exchange(
        self, url: URL, headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], bytes | None]:
        """One GET: the status, the headers and the body (None when over the cap)."""
        options = self._remote.options
        async with self._get_session().get(url, headers=headers, **options) as response:
            self._remote.answered = True
            reply_headers = response.headers
            length = response.content_length
            plain = "Content-Encoding" not in reply_headers
            if length is not None and length <= MAX_BODY_BYTES and plain:
                return response.status, reply_headers, await response.read()  # the usual case
            return response.status, reply_headers, await read_capped(response)


def _job_in(body: bytes, job_id: str) -> Job:
    """The job a 200 answer holds; an error object in it is the error it names."""
    failure: EvsJobWatchError
    try:
        job = decode_job(body, job_id)
    except MalformedResponseError as malformed:
        # Not a job: told apart from an API error only now, so a job is parsed once.
        data = try_loads(body)
        if type(data) is dict and "status" not in data and error_fields(data):
            failure = logged(error_for(200, data, _NO_HEADERS, job_id))
        else:
            failure = malformed
    else:
        if job.job_id == job_id:
            return job
        failure = MalformedResponseError(
            f"the answer is about job {job.job_id!r}", body=body, job_id=job_id
        )
    raise failure  # outside the handler: an API error carries no decoding error as context
