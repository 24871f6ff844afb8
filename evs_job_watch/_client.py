"""EvsJobClient: one job query over aiohttp, with the API's errors mapped to ours."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from types import MappingProxyType, TracebackType
from typing import Any

import aiohttp
from yarl import URL

from ._auth import Auth
from ._codec import Answer, answer_from, error_fields, job_from_data, loads
from ._errors import (
    AuthenticationError,
    EvsApiError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
)
from ._models import Job
from ._validate import check_id, positive_int

__all__ = ["EvsJobClient", "error_for"]

MAX_BODY_BYTES = 1024 * 1024
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_MAX_RETRY_AFTER = 600.0
_PATH = re.compile(r"[A-Za-z0-9._~/-]*", re.ASCII)

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


def _check_endpoint(endpoint: object, allow_insecure_http: bool) -> str:
    if not isinstance(endpoint, str) or not endpoint or endpoint != endpoint.strip():
        raise ValueError("endpoint must be a URL string without surrounding whitespace")
    if "%" in endpoint or any(char.isspace() for char in endpoint):
        # The URL would be normalised before it is checked (%2e%2e to ..), so no escapes.
        raise ValueError("endpoint must not hold percent-escapes or whitespace")
    try:
        url = URL(endpoint)
        port = url.port  # yarl checks the port only when asked for it
    except ValueError as exc:
        raise ValueError(f"endpoint is not a valid URL: {exc}") from None
    if port == 0:
        raise ValueError("endpoint port must be from 1 to 65535")
    if url.scheme not in ("https", "http") or not url.raw_host:
        raise ValueError("endpoint must be an absolute https:// URL with a host")
    if url.raw_user is not None or url.raw_password is not None:
        raise ValueError("endpoint must not carry user info; pass credentials as auth=")
    if "?" in endpoint or "#" in endpoint:
        raise ValueError("endpoint must not carry a query or a fragment")
    if not _PATH.fullmatch(url.raw_path):
        raise ValueError("endpoint path may hold only letters, digits and - . _ ~ /")
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.raw_host):
        raise ValueError(
            "endpoint must use https (http only for a loopback host or allow_insecure_http=True)"
        )
    return endpoint.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    """Queries EVS jobs: ``await client.get_job(job_id)``.

    Args:
        endpoint: the EVS endpoint, e.g. ``https://evs.eu-de.otc.t-systems.com``.
        project_id: the project the jobs belong to.
        auth: a ``TokenAuth`` or ``AkSkAuth``; None sends no credentials.
        session: an aiohttp session to use; the client then never closes it.
        timeout: seconds one request may take, connecting included.
        allow_insecure_http: permit ``http://`` to a host that is not loopback.
        max_connections: the connection pool size of a session the client creates.
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
    ) -> None:
        self._endpoint = _check_endpoint(endpoint, allow_insecure_http)
        self._project_id = check_id(project_id, "project id")
        if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
            raise ValueError("timeout must be a positive number of seconds")
        positive_int(max_connections, "max_connections")
        self._auth = auth
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=float(timeout))
        self._prefix = f"{self._endpoint}/v1/{self._project_id}/jobs/"

    def __repr__(self) -> str:
        return f"EvsJobClient({self._endpoint!r}, {self._project_id!r})"

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def project_id(self) -> str:
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
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(connector=connector)
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
        refused: str | None = None
        try:
            headers = await self._auth.headers("GET", url)
        except AuthenticationError as exc:
            refused = exc.message  # a token provider's failure, shared by every waiter
        if refused is not None:  # a fresh error per request, raised outside the handler
            raise AuthenticationError(refused, job_id=job_id)
        try:
            return await self._get(url, headers, job_id, last)
        except AuthenticationError:
            if not await self._auth.refresh(headers):
                raise
        return await self._get(url, await self._auth.headers("GET", url), job_id, last)

    async def _get(
        self, url: URL, headers: Mapping[str, str], job_id: str, last: Answer | None
    ) -> Answer:
        failure = None
        try:
            async with self._get_session().get(
                url, headers=headers, allow_redirects=False, timeout=self._timeout
            ) as response:
                status = response.status
                reply_headers = response.headers
                length = response.content_length
                plain = "Content-Encoding" not in reply_headers
                if length is not None and length <= MAX_BODY_BYTES and plain:
                    body: bytes | None = await response.read()  # the usual case, read whole
                else:
                    body = await _read_capped(response)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failure = type(exc).__name__
        if failure is not None:
            # Raised outside the handler, so no __context__ carries aiohttp's exception:
            # some of those keep the request's headers, and so the token.
            raise ServerError(f"request failed: {failure}", job_id=job_id)
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
        raise error_for(status, data, reply_headers, job_id)


def _job_in(body: bytes, job_id: str) -> Job:
    """The job a 200 answer holds; an error object in it is the error it names."""
    data = loads(body, job_id)
    if type(data) is dict and "status" not in data and error_fields(data):
        raise error_for(200, data, _NO_HEADERS, job_id)
    job = job_from_data(data, body=body, job_id=job_id)
    if job.job_id != job_id:
        raise MalformedResponseError(
            f"the answer is about job {job.job_id!r}", body=body, job_id=job_id
        )
    return job


async def _read_capped(response: aiohttp.ClientResponse) -> bytes | None:
    """The body, or None when it is larger than the cap (then it is not read to the end).

    The cap counts the bytes as decoded: a compressed body is counted as it inflates.
    """
    length = response.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _try_loads(body: bytes | None) -> Any:
    try:
        return loads(body) if body else None
    except MalformedResponseError:
        return None
