"""Shared helpers of the client tests: the mocked endpoint, the API's error bodies, and what
the client sent."""

from __future__ import annotations

import inspect
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aioresponses import aioresponses
from yarl import URL

from ..hostile.answers import MIB

# A loopback endpoint: even if the mock failed to intercept, nothing would leave the host.
ENDPOINT = "https://127.0.0.1:8443"
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
JOB = "4b5c6d7e8f90a1b2c3d4e5f60718293a"
JOB_URL = f"{ENDPOINT}/v1/{PROJECT}/jobs/{JOB}"
CANARY = "SECRET-CANARY-123"
HTML = "<html><head><title>500 Internal Server Error</title></head><body>oops</body></html>"


def api_error(code: str, message: str) -> dict[str, Any]:
    """An error body as the EVS service sends it."""
    return {"error": {"message": message, "code": code}}


def gateway_error(code: str, message: str) -> dict[str, Any]:
    """An error body as the API gateway in front of the service sends it."""
    return {"error_msg": message, "error_code": code, "request_id": "7c0a9f3e5b2d4c1a8e6f"}


REFUSED = api_error("EVS.5401", "token expired")


def requests_made(mocked: aioresponses) -> list[tuple[str, URL, dict[str, Any]]]:
    """Every request the client sent, in order: (method, URL, keyword arguments)."""
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mocked.requests.items()
        for call in calls
    ]


def sent_headers(mocked: aioresponses) -> list[dict[str, str]]:
    return [dict(kwargs["headers"]) for _, _, kwargs in requests_made(mocked)]


class MockedApi(aioresponses):
    """aioresponses, with responses that aiohttp 3.14 can read (see ``roomy_stream``)."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _Response)
        super().add(*args, **kwargs)


# aiohttp 3.14 added the argument; the lowest aiohttp the library supports has none.
_HAS_STREAM_WRITER = "stream_writer" in inspect.signature(aiohttp.ClientResponse).parameters


class _Response(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without aiohttp 3.14's ``stream_writer``."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        if _HAS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", _SentWriter())
        super().__init__(method, url, **kwargs)


class _SentWriter:
    output_size = 0


def roomy_stream(loop: Any = None) -> aiohttp.StreamReader:
    """A stream for aioresponses' ``stream_reader_factory`` that holds a whole large body."""
    # aioresponses feeds a whole body into a 64 KiB stream whose dummy protocol cannot pause.
    return aiohttp.StreamReader(ResponseHandler(loop=loop), limit=4 * MIB, loop=loop)
