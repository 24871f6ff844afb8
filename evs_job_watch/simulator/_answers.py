"""Answers of the simulator's HTTP layer and the checks of create/action bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import orjson
from aiohttp import web

__all__ = [
    "JSON",
    "Answer",
    "BadRequest",
    "RequestRecord",
    "bad_request",
    "int_field",
    "item_not_found",
    "json_object",
    "read_json",
]

JSON = "application/json"

# (status, body, content type, extra headers)
Answer = tuple[int, bytes, str, Mapping[str, str] | None]


@attrs.frozen
class RequestRecord:
    """One request the simulator received.

    Attributes:
        method: the HTTP method.
        path: the request path.
        job_id: the job queried, for a job query; else None.
        status: the answer's HTTP status (0: the connection was dropped).
        fault: the fault injected into the answer (`"throttle"`, ...), or None.
        at: the loop time its answer was decided.
        arrived: the loop time it came in (before any latency fault).
        agent: its User-Agent header (tells clients apart).
    """

    method: str
    path: str
    job_id: str | None
    status: int
    fault: str | None
    at: float
    arrived: float | None = None
    agent: str | None = None


class BadRequest(Exception):
    """A create or action body the API would reject with 400 badRequest."""


def bad_request(message: str) -> Answer:
    """400 with the OpenStack-style `badRequest` body."""
    return 400, orjson.dumps({"badRequest": {"message": message, "code": 400}}), JSON, None


def int_field(
    obj: Mapping[str, Any], key: str, low: int, high: int, default: int | None = None
) -> int:
    """An int field within [low, high] (a bool is not an int here)."""
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"Invalid input for field/attribute {key}: expected {low}..{high}.")
    return value


def json_object(payload: object, key: str) -> Mapping[str, Any]:
    """The object under `key` of a decoded body."""
    value = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input: '{key}' is a required object.")
    return value


async def read_json(request: web.Request) -> object:
    """The decoded request body."""
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None


def item_not_found(volume_id: str) -> Answer:
    """404 with the OpenStack-style `itemNotFound` body."""
    body = {"itemNotFound": {"message": f"Volume {volume_id} could not be found.", "code": 404}}
    return 404, orjson.dumps(body), JSON, None
