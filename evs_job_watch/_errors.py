"""The exceptions of evs_job_watch, all under one base class.

```
EvsJobWatchError
├── EvsApiError             the API answered with an error: .status, .code, .message, .job_id
│   ├── JobNotFoundError        400 Common.0011, 404 (after the not-found grace, in a watcher)
│   ├── AuthenticationError     token, signature and project errors
│   ├── ThrottledError          429: .retry_after (seconds or None)
│   └── ServerError             5xx, connection failures and request timeouts (.status None)
├── ConnectionSetupError    no connection could ever be made (certificate, unknown host,
│                           refused port, proxy): .scheme, .host, .port, .reason, .proxy
├── MalformedResponseError  a body that is not a job: .job_id, .excerpt
├── JobFailedError          the job ended in FAIL: .job
│   └── VolumeFailedError       ready mode: a disk of a job that succeeded reads error*:
│                               .job, .volume_id, .volume_status
├── WatchTimeoutError       the watch timed out (also a TimeoutError)
└── WatcherClosedError      the watcher was closed while the watch was live
```

Every error carries its context as attributes; none carries a credential.

``ConnectionSetupError`` is not a ``ServerError``: a server error is the API having a bad
moment and is retried, while a connection that never worked is a configuration to fix
(a CA, a host name, a port, a proxy), and retrying it only hides the message. The same
failures once a connection has worked are a network blip: ``ServerError`` again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Job

__all__ = [
    "AuthenticationError",
    "ConnectionSetupError",
    "EvsApiError",
    "EvsJobWatchError",
    "JobFailedError",
    "JobNotFoundError",
    "MalformedResponseError",
    "ServerError",
    "ThrottledError",
    "VolumeFailedError",
    "WatchTimeoutError",
    "WatcherClosedError",
]

_EXCERPT_CHARS = 200


class EvsJobWatchError(Exception):
    """Base class of every error this library raises."""


class EvsApiError(EvsJobWatchError):
    """The API answered with an error.

    Attributes:
        status: the HTTP status, or None when no answer came (connection errors).
        code: the API error code such as ``Common.0011``, if the body carried one.
        message: the API's message, or a description of what went wrong.
        job_id: the job the request was about, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        job_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.job_id = job_id
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}" if self.status is not None else "no HTTP answer"]
        if self.code:
            parts.append(self.code)
        if self.job_id:
            parts.append(f"job {self.job_id}")
        return f"{self.message} ({', '.join(parts)})"


class JobNotFoundError(EvsApiError):
    """The API does not know the job (400 ``Common.0011`` or 404)."""


class AuthenticationError(EvsApiError):
    """The credentials were refused: bad or expired token, bad signature, wrong project."""


class ThrottledError(EvsApiError):
    """The API answered 429; ``retry_after`` is its ``Retry-After`` in seconds, if sent."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        code: str | None = None,
        job_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, job_id=job_id)
        self.retry_after = retry_after


class ServerError(EvsApiError):
    """A transient server-side failure: 5xx, a dropped connection or a request timeout."""


class ConnectionSetupError(EvsJobWatchError):
    """No connection to a server could be made, and none ever was: a setup problem.

    Attributes:
        scheme: the scheme of the server that could not be reached (``https``).
        host: its host name or address.
        port: its port, if the URL gave one.
        reason: what went wrong, e.g. ``certificate verify failed (...)``.
        proxy: the proxy the connection went through (``scheme://host:port``), if any.
        job_id: the job the request was about, if any.
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        reason: str,
        *,
        proxy: str | None = None,
        job_id: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.reason = reason
        self.proxy = proxy
        self.job_id = job_id
        super().__init__(scheme, host, port, reason)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        where = f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")
        through = f" through the proxy {self.proxy}" if self.proxy else ""
        job = f" (job {self.job_id})" if self.job_id else ""
        return f"cannot connect to {where}{through}: {self.reason}{job}"


class MalformedResponseError(EvsJobWatchError):
    """A response body that is not the job it should be; ``excerpt`` shows its start."""

    def __init__(self, reason: str, *, body: bytes = b"", job_id: str | None = None) -> None:
        self.reason = reason
        self.job_id = job_id
        self.excerpt = body[:_EXCERPT_CHARS].decode("utf-8", "replace")
        super().__init__(reason)

    def __str__(self) -> str:
        where = f" for job {self.job_id}" if self.job_id else ""
        return f"malformed response{where}: {self.reason}; body starts {self.excerpt!r}"


class JobFailedError(EvsJobWatchError):
    """The job ended in FAIL; ``job`` is its final state."""

    def __init__(self, job: Job) -> None:
        self.job = job
        super().__init__(job)

    def __str__(self) -> str:
        reason = self.job.fail_reason or "no reason given"
        code = f" [{self.job.error_code}]" if self.job.error_code else ""
        return f"job {self.job.job_id} failed{code}: {reason}"


class VolumeFailedError(JobFailedError):
    """Ready mode: the job read SUCCESS, but a disk it names reads an ``error*`` status."""

    def __init__(self, job: Job, volume_id: str, volume_status: str) -> None:
        self.volume_id = volume_id
        self.volume_status = volume_status
        super().__init__(job)

    def __str__(self) -> str:
        return (
            f"job {self.job.job_id} succeeded, but its disk {self.volume_id} "
            f"reads {self.volume_status!r}: it is not usable"
        )


class WatchTimeoutError(EvsJobWatchError, TimeoutError):
    """The watch did not see the job end before its timeout."""

    def __init__(self, job_id: str, timeout: float) -> None:
        self.job_id = job_id
        self.timeout = timeout
        super().__init__(f"job {job_id} did not end within {timeout:g} s")


class WatcherClosedError(EvsJobWatchError):
    """The watcher was closed while this watch was live."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"the watcher was closed while watching job {job_id}")
