"""Fault injection for the job query: random faults (`Faults`) and scripted replies (`Reply`).

Bodies imitate what EVS and its API gateway send, so a client's error mapping is
exercised against realistic shapes, not just status codes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

__all__ = [
    "FAULT_KINDS",
    "Faults",
    "Reply",
    "canned_body",
    "error_body",
    "fault_reply",
    "gateway_body",
    "pick_fault",
    "request_id",
    "retry_after_value",
]

# Mutually exclusive per-request faults, in the order they are drawn.
FAULT_KINDS = ("drop", "server_error", "throttle", "non_json", "truncated")

_THROTTLE_MSG = (
    "The throttling threshold has been reached: policy user over ratelimit,limit:100,time:1 minute"
)
_HTML = {
    200: b"<!DOCTYPE html><html><head><title>Service maintenance</title></head><body>"
    b"<h1>The service is under maintenance.</h1><p>Please try again later.</p></body></html>",
    502: b"<html><head><title>502 Bad Gateway</title></head><body><center>"
    b"<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
}


def _probability(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _latency(
    _: object,
    attribute: attrs.Attribute[tuple[float, float] | None],
    value: tuple[float, float] | None,
) -> None:
    if value is not None and not 0.0 <= value[0] <= value[1]:
        raise ValueError(f"latency must be (min, max) with 0 <= min <= max, got {value!r}")


def _to_latency(value: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


@attrs.frozen
class Faults:
    """Random faults applied to each job query, drawn from the simulator's seeded RNG.

    At most one of `drop`, `server_error`, `throttle`, `non_json`, `truncated` hits a
    request (they are disjoint events, so their sum must be <= 1); `latency` adds a
    uniform delay in real (loop) seconds to every job query on top of that.
    `retry_after` is in seconds and written as an integer when it is whole.

    Args:
        server_error: probability of a 500 or 503 answer.
        throttle: probability of a 429 answer (the gateway's `APIG.0308` body).
        retry_after_share: the share of 429 answers that carry a `Retry-After` header.
        retry_after: the `Retry-After` value, in seconds.
        latency: `(min, max)` real seconds added to every job query, or None.
        truncated: probability of a body cut short.
        non_json: probability of a body that is not JSON (an HTML error page).
        drop: probability of a connection closed without an answer.
    """

    server_error: float = attrs.field(default=0.0, validator=_probability)
    throttle: float = attrs.field(default=0.0, validator=_probability)
    retry_after_share: float = attrs.field(default=0.5, validator=_probability)
    retry_after: float = attrs.field(default=1.0, validator=_non_negative)
    latency: tuple[float, float] | None = attrs.field(
        default=None, converter=_to_latency, validator=_latency
    )
    truncated: float = attrs.field(default=0.0, validator=_probability)
    non_json: float = attrs.field(default=0.0, validator=_probability)
    drop: float = attrs.field(default=0.0, validator=_probability)

    def __attrs_post_init__(self) -> None:
        if sum(getattr(self, kind) for kind in FAULT_KINDS) > 1.0 + 1e-9:
            raise ValueError("the fault probabilities must add up to at most 1")

    @property
    def active(self) -> bool:
        """Whether any fault can happen (the hot path skips all draws otherwise)."""
        return self.latency is not None or any(getattr(self, kind) for kind in FAULT_KINDS)


def _to_headers(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


def _to_body(value: bytes | str | Mapping[str, Any] | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


@attrs.frozen
class Reply:
    """One scripted answer to the next job query, queued with `EvsSimulator.inject`.

    Args:
        status: HTTP status; None keeps the normal one (200 with a body given).
        body: bytes, text, or a mapping sent as JSON. None with a status gives that
            status's usual EVS/gateway body; None with no status is the normal answer.
        headers: extra response headers, e.g. `{"Retry-After": "3"}`.
        content_type: the Content-Type sent with a given `body`.
        delay: real (loop) seconds to wait before answering.
        drop: close the connection without answering.
    """

    status: int | None = None
    body: bytes | None = attrs.field(default=None, converter=_to_body)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_to_headers)
    content_type: str = "application/json"
    delay: float = attrs.field(default=0.0, validator=_non_negative)
    drop: bool = False


def request_id(rng: random.Random) -> str:
    """A gateway request id (32 hex characters)."""
    return f"{rng.getrandbits(128):032x}"


def gateway_body(code: str, message: str, rng: random.Random) -> bytes:
    """An API gateway error body: `error_msg`, `error_code`, `request_id`."""
    return orjson.dumps({"error_msg": message, "error_code": code, "request_id": request_id(rng)})


def error_body(code: str, message: str) -> bytes:
    """An EVS service error body: `{"error": {"message", "code"}}`."""
    return orjson.dumps({"error": {"message": message, "code": code}})


def canned_body(status: int, rng: random.Random) -> tuple[bytes, str]:
    """The usual body and content type for an error status on the job query."""
    if status == 429:
        return gateway_body("APIG.0308", _THROTTLE_MSG, rng), "application/json"
    if status == 502:
        return gateway_body("APIG.0202", "Backend unavailable", rng), "application/json"
    if status == 504:
        return gateway_body("APIG.0201", "Backend timeout", rng), "application/json"
    if status == 401:
        message = "Incorrect IAM authentication information: verify token fail"
        return gateway_body("APIG.1002", message, rng), "application/json"
    services = {
        400: ("Common.0011", "query job fail."),
        403: ("EVS.0003", "Forbidden."),
        404: ("EVS.5404", "Job not found."),
        500: ("EVS.5500", "Internal server error."),
        503: ("EVS.5503", "The service is temporarily unavailable."),
    }
    if status in services:
        return error_body(*services[status]), "application/json"
    return b"", "application/octet-stream"


def retry_after_value(seconds: float) -> str:
    """Format a Retry-After value: an integer when whole, else the decimal (fast tests)."""
    return str(int(seconds)) if math.isclose(seconds, round(seconds)) else repr(seconds)


def pick_fault(faults: Faults, rng: random.Random) -> str | None:
    """Draw the fault for one request (one uniform draw over the disjoint kinds)."""
    draw = rng.random()
    for kind in FAULT_KINDS:
        chance: float = getattr(faults, kind)
        if draw < chance:
            return kind
        draw -= chance
    return None


def fault_reply(
    kind: str, faults: Faults, rng: random.Random
) -> tuple[int, bytes, str, dict[str, str]]:
    """Build (status, body, content type, headers) for `server_error`, `throttle`, `non_json`."""
    headers: dict[str, str] = {}
    if kind == "server_error":
        status = rng.choice((500, 502, 503, 504))
        body, ctype = canned_body(status, rng)
    elif kind == "throttle":
        status = 429
        body, ctype = canned_body(429, rng)
        if rng.random() < faults.retry_after_share:
            headers["Retry-After"] = retry_after_value(faults.retry_after)
    else:
        status = rng.choice((200, 502))
        body, ctype = _HTML[status], "text/html"
    return status, body, ctype, headers
