"""EvsJobClient: one job query over aiohttp, with the API's errors mapped to ours."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from types import MappingProxyType, TracebackType
from typing import Any

import aiohttp
from yarl import URL

from .._credentials._auth import Auth
from .._errors import (
    AuthenticationError,
    EvsApiError,
    EvsJobWatchError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
)
from .._models import Job
from .._validate import check_id, positive_int
from .._wire._codec import Answer, answer_from, decode_job, error_fields, loads
from .._wire._http import MAX_BODY_BYTES, HttpSettings, Remote, SslOption, origin, read_capped
from ._environment import read_settings

__all__ = ["EvsJobClient", "error_for"]

logger = logging.getLogger("evs_job_watch")  # see docs/logging.md; never a header or body
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_MAX_RETRY_AFTER = 600.0

# The API's error codes, by what they mean for a caller.
_CODE_ERRORS: Mapping[str, type[EvsApiError]] = {
    "Common.0011": JobNotFoundError,  # "query job fail." / "No jobs found."
    "EVS.5404": JobNotFoundError,
    "Common.0013": AuthenticationError,  # bad or expired token
    "Common.0018": AuthenticationError,  # token and project do not match
    "EVS.0002": AuthenticationError,
    "EVS.5401": AuthenticationError,
    "EVS.0003": AuthenticationError,
    "EVS.5403": AuthenticationError,
    "APIG.0308": ThrottledError,
    "EVS.5500": ServerError,
    "EVS.5503": ServerError,
}
_STATUS_ERRORS: Mapping[int, type[EvsApiError]] = {
    401: AuthenticationError,
    403: AuthenticationError,
    404: JobNotFoundError,
    429: ThrottledError,
}


def _for_job(error: EvsJobWatchError, job_id: str) -> EvsJobWatchError:
    """A copy of a credential source's error, about this job.

    A renewal shares one error among every request that waited for it; each raises a
    copy of its own (no shared traceback, no context), with the job it was for.
    """
    mine = copy.copy(error)
    if hasattr(mine, "job_id"):
        mine.job_id = job_id
    return mine


def error_for(
    status: int, data: Any, headers: Mapping[str, str], job_id: str | None
) -> EvsApiError:
    """The error an answer with this status and parsed body means."""
    code, message = error_fields(data) or (None, None)
    if status == 429:
        cls: type[EvsApiError] = ThrottledError
    elif status >= 500:
        cls = ServerError
    else:
        cls = _CODE_ERRORS.get(code or "") or _STATUS_ERRORS.get(status, EvsApiError)
    text = message or f"the API answered HTTP {status}"
    if cls is ThrottledError:
        return ThrottledError(
            text,
            status=status,
            code=code,
            job_id=job_id,
            retry_after=_retry_after(headers.get("Retry-After")),
        )
    return cls(text, status=status, code=code, job_id=job_id)


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date), clamped to sanity."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


class EvsJobClient:
    """Queries EVS (or ECS) jobs: ``await client.get_job(job_id)``.

    Args:
        endpoint: the EVS endpoint, e.g. ``https://evs.eu-de.otc.t-systems.com`` (see
            ``endpoint_for``); an ECS endpoint serves server jobs the same way.
        project_id: the project the jobs belong to.
        auth: a ``TokenAuth``, ``AkSkAuth`` or ``PasswordAuth``; None sends no credentials.
        session: an aiohttp session to use; the client then never closes it.
        timeout: seconds one request may take, connecting included.
        allow_insecure_http: permit ``http://`` to a host that is not loopback.
        max_connections: the connection pool size of a session the client creates.
        ssl: None for the system's CAs, an ``ssl.SSLContext`` (it must verify), or the
            path of a PEM CA bundle to trust instead. There is no switch to turn it off.
        proxy: a proxy URL for every request; otherwise, with ``trust_env``, the
            ``HTTPS_PROXY``/``NO_PROXY`` variables decide (for a session made here).
    """

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        *,
        auth: Auth | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        allow_insecure_http: bool = False,
        max_connections: int = 100,
        ssl: SslOption = None,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self._http = HttpSettings(
            ssl=ssl,
            proxy=proxy,
            trust_env=trust_env,
            timeout=timeout,
            allow_insecure_http=allow_insecure_http,
        )
        self._endpoint = self._http.endpoint(endpoint)
        self._project_id = check_id(project_id, "project id")
        positive_int(max_connections, "max_connections")
        self._options = self._http.request_options(URL(self._endpoint))
        proxy = self._options.get("proxy")
        self._proxy = origin(proxy) if proxy is not None else None
        self._auth = auth
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self._prefix = f"{self._endpoint}/v1/{self._project_id}/jobs/"
        self._remote = Remote()

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
        ssl: SslOption = None,
        proxy: str | None = None,
        trust_env: bool = True,
        timeout: float = 30.0,
        allow_insecure_http: bool = False,
        **options: Any,
    ) -> EvsJobClient:
        """A client configured as openstacksdk users expect: ``OS_CLOUD`` and clouds.yaml
        (``cloud`` names the entry), overridden by ``OS_*`` variables, overridden by the
        arguments given here.

        Credentials, by rank: ``OS_AUTH_TOKEN``; an access key pair (``OS_ACCESS_KEY`` /
        ``OS_SECRET_KEY``, ``HUAWEICLOUD_SDK_AK`` / ``_SK``, ``CLOUD_SDK_AK`` / ``_SK``,
        each with its ``_SECURITY_TOKEN``); a user name and password for IAM. A project
        given only by name is looked up with IAM here, so this is a coroutine.

        Args:
            service: ``"evs"`` (disk jobs) or ``"ecs"`` (server jobs): picks the endpoint.
            provider: ``"otc"`` or ``"huawei"``; by default from the IAM ``auth_url``,
                else Open Telekom Cloud.
            environ: the variables to read (default ``os.environ``).
            options: further ``EvsJobClient`` arguments (``session``, ``max_connections``).
        """
        http = HttpSettings(
            ssl=ssl,
            proxy=proxy,
            trust_env=trust_env,
            timeout=timeout,
            allow_insecure_http=allow_insecure_http,
        )
        settings = read_settings(
            os.environ if environ is None else environ,
            cloud=cloud,
            service=service,
            provider=provider,
            region=region,
            endpoint=endpoint,
            project_id=project_id,
            http=http,
        )
        project = settings.project_id
        if project is None:
            assert settings.resolve_project_id is not None
            project = await settings.resolve_project_id()
        return cls(
            settings.endpoint, project, auth=settings.auth, **settings.http.keywords(), **options
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
        """Close the session if the client created it; a caller's session stays open."""
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._http.session(self._max_connections)
        return self._session

    async def get_job(self, job_id: str) -> Job:
        """The job's current state; raises an ``EvsJobWatchError`` subclass on failure."""
        return (await self.poll_job(job_id)).job

    async def poll_job(self, job_id: str, last: Answer | None = None) -> Answer:
        """Like ``get_job``, for a caller that polls: ``last`` itself when the body is the
        one ``last`` was decoded from (then nothing is decoded), else the new answer.

        A running job answers the same bytes poll after poll, so most polls end here.
        """
        url = URL(self._prefix + check_id(job_id), encoded=True)
        if self._auth is None:
            return await self._get(url, _NO_HEADERS, job_id, last)
        headers = await self._credentials(url, job_id)
        try:
            return await self._get(url, headers, job_id, last)
        except AuthenticationError:
            if not await self._refresh(headers, job_id):
                raise
        return await self._get(url, await self._credentials(url, job_id), job_id, last)

    async def _credentials(self, url: URL, job_id: str) -> Mapping[str, str]:
        assert self._auth is not None
        failed: EvsJobWatchError
        try:
            return await self._auth.headers("GET", url)
        except EvsJobWatchError as exc:
            failed = _for_job(exc, job_id)  # a renewal's error, shared by every waiter
        raise failed  # outside the handler: no shared error as context

    async def _refresh(self, used: Mapping[str, str], job_id: str) -> bool:
        assert self._auth is not None
        failed: EvsJobWatchError
        try:
            return await self._auth.refresh(used)
        except EvsJobWatchError as exc:
            failed = _for_job(exc, job_id)
        raise failed

    async def _get(
        self, url: URL, headers: Mapping[str, str], job_id: str, last: Answer | None
    ) -> Answer:
        try:
            status, reply_headers, body = await self._remote.ask(
                self._exchange(url, headers), url, proxy=self._proxy, job_id=job_id
            )
        except EvsJobWatchError as failure:
            logger.debug("GET job failed: %s", failure, extra={"job_id": job_id})
            raise
        if status == 200 and body is not None:
            return answer_from(body, job_id, last, _job_in)
        if status == 200:
            raise MalformedResponseError(f"body larger than {MAX_BODY_BYTES} bytes", job_id=job_id)
        if 300 <= status < 400:
            raise EvsApiError(
                "unexpected redirect (redirects are not followed)", status=status, job_id=job_id
            )
        data = _try_loads(body)
        if status < 500 and status not in _STATUS_ERRORS and error_fields(data) is None:
            # A refusal is only final when the API says what it refuses; a garbled or
            # empty 4xx body is treated like any other malformed answer (retried).
            raise MalformedResponseError(
                f"HTTP {status} without an API error body", body=body or b"", job_id=job_id
            )
        raise _logged(error_for(status, data, reply_headers, job_id))

    async def _exchange(
        self, url: URL, headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], bytes | None]:
        """One GET: the status, the headers and the body (None when over the cap)."""
        async with self._get_session().get(url, headers=headers, **self._options) as response:
            self._remote.answered = True
            reply_headers = response.headers
            length = response.content_length
            plain = "Content-Encoding" not in reply_headers
            if length is not None and length <= MAX_BODY_BYTES and plain:
                return response.status, reply_headers, await response.read()  # the usual case
            return response.status, reply_headers, await read_capped(response)


def _logged(error: EvsApiError) -> EvsApiError:
    extra = {"job_id": error.job_id, "error_code": error.code}
    logger.debug("GET job refused: %s %s", type(error).__name__, error.message, extra=extra)
    return error


def _job_in(body: bytes, job_id: str) -> Job:
    """The job a 200 answer holds; an error object in it is the error it names."""
    failure: EvsJobWatchError
    try:
        job = decode_job(body, job_id)
    except MalformedResponseError as malformed:
        # Not a job: told apart from an API error only now, so a job is parsed once.
        data = _try_loads(body)
        if type(data) is dict and "status" not in data and error_fields(data):
            failure = _logged(error_for(200, data, _NO_HEADERS, job_id))
        else:
            failure = malformed
    else:
        if job.job_id == job_id:
            return job
        failure = MalformedResponseError(
            f"the answer is about job {job.job_id!r}", body=body, job_id=job_id
        )
    raise failure  # outside the handler: an API error carries no decoding error as context


def _try_loads(body: bytes | None) -> Any:
    try:
        return loads(body) if body else None
    except MalformedResponseError:
        return None
