"""What an answer other than a job means: the API's refusals mapped to our errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from .._errors import (
    AuthenticationError,
    EvsApiError,
    EvsJobWatchError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
)
from .._wire._codec import error_fields, loads
from .._wire._http import MAX_BODY_BYTES

__all__ = ["error_for", "logged", "refusal", "try_loads"]

logger = logging.getLogger("evs_job_watch")  # see docs/logging.md; never a header or body
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


def refusal(
    status: int, reply_headers: Mapping[str, str], body: bytes | None, job_id: str | None
) -> EvsJobWatchError:
    """The error an answer other than a readable 200 means."""
    if status == 200:
        return MalformedResponseError(f"body larger than {MAX_BODY_BYTES} bytes", job_id=job_id)
    if 300 <= status < 400:
        return EvsApiError(
            "unexpected redirect (redirects are not followed)", status=status, job_id=job_id
        )
    data = try_loads(body)
    if status < 500 and status not in _STATUS_ERRORS and error_fields(data) is None:
        # A refusal is only final when the API says what it refuses; a garbled or
        # empty 4xx body is treated like any other malformed answer (retried).
        return MalformedResponseError(
            f"HTTP {status} without an API error body", body=body or b"", job_id=job_id
        )
    return logged(error_for(status, data, reply_headers, job_id))


def logged(error: EvsApiError) -> EvsApiError:
    extra = {"job_id": error.job_id, "error_code": error.code}
    logger.debug("GET job refused: %s %s", type(error).__name__, error.message, extra=extra)
    return error


def try_loads(body: bytes | None) -> Any:
    try:
        return loads(body) if body else None
    except MalformedResponseError:
        return None
