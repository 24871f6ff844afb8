"""MetadataCredentials: the temporary AK/SK an ECS or CCE server gets from its agency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
from yarl import URL

from .._errors import AuthenticationError, MalformedResponseError, ServerError
from .._wire._http import HttpSettings, Remote, read_capped
from ._keys import Credentials, parse_expiry

__all__ = ["METADATA_URL", "MetadataCredentials"]

METADATA_URL = "http://169.254.169.254"
_TOKEN_PATH = "/meta-data/latest/api/token"
_KEY_PATH = "/openstack/latest/securitykey"
_TOKEN_CAP = 4096
_KEY_CAP = 64 * 1024
# A service without session tokens answers the token request with one of these.
_NO_SESSION_TOKENS = frozenset({403, 404, 405, 501})


class MetadataCredentials:
    """Temporary keys from the metadata service, for ``AkSkAuth.from_provider``.

    ``AkSkAuth.from_provider(MetadataCredentials())`` signs with the keys of the server's
    IAM agency: they last an hour, the service replaces them ten minutes before they
    expire, and the auth renews them five minutes before. A newer metadata service
    first hands out a session token (``PUT /meta-data/latest/api/token``); an older one
    does not, and then the keys are read without it.

    Requests go straight to the service, never through a proxy: it is a link-local
    address that only the server itself can reach.

    Args:
        base_url: the metadata service (http is accepted: it never leaves the host).
        session_token_ttl: seconds a session token is asked to last.
        timeout: seconds one request may take.
    """

    __slots__ = ("_base", "_remote", "_sessions", "_token", "_token_until", "_ttl")

    def __init__(
        self,
        base_url: str = METADATA_URL,
        *,
        session_token_ttl: int = 21600,
        timeout: float | timedelta = 5.0,
    ) -> None:
        # http is accepted: the metadata service never leaves the host.
        http = HttpSettings(trust_env=False, timeout=timeout, allow_insecure_http=True)
        self._remote = Remote(http, base_url, "metadata base_url")
        self._base = self._remote.endpoint
        if not (isinstance(session_token_ttl, int) and 1 <= session_token_ttl <= 21600):
            raise ValueError("session_token_ttl must be whole seconds from 1 to 21600")
        self._ttl = session_token_ttl
        self._sessions: bool | None = None  # does the service hand out session tokens?
        self._token: str | None = None
        self._token_until = 0.0

    def __repr__(self) -> str:
        return f"MetadataCredentials({self._base!r})"

    async def __call__(self) -> Credentials:
        """Read the current keys (asking for a session token first where supported)."""
        async with self._remote.session(limit=1) as session:
            status, body = await self._read(session)
            if status == 401 and self._token is not None:
                self._token = None  # the session token expired early: one more try
                status, body = await self._read(session)
        if status == 200:
            return _credentials(body)
        if status == 404:
            raise AuthenticationError(
                f"the metadata service at {self._base} has no security key: "
                "is an agency attached to this server?",
                status=status,
            )
        if status in (401, 403):
            raise AuthenticationError(
                f"the metadata service at {self._base} refused the key request", status=status
            )
        raise ServerError(f"the metadata service at {self._base} answered HTTP {status}")

    async def _read(self, session: aiohttp.ClientSession) -> tuple[int, bytes]:
        token = await self._session_token(session)
        headers = {"X-Metadata-Token": token} if token is not None else {}
        return await self._request(session, "GET", _KEY_PATH, headers, _KEY_CAP)

    async def _session_token(self, session: aiohttp.ClientSession) -> str | None:
        loop = asyncio.get_running_loop()
        if self._sessions is False:
            return None
        if self._token is not None and loop.time() < self._token_until:
            return self._token
        ttl = {"X-Metadata-Token-Ttl-Seconds": str(self._ttl)}
        status, body = await self._request(session, "PUT", _TOKEN_PATH, ttl, _TOKEN_CAP)
        if status in _NO_SESSION_TOKENS:
            self._sessions = False  # an older service: read the keys without a token
            return None
        token = body.decode("ascii", "replace").strip()
        if status != 200 or not token or not token.isprintable():
            raise ServerError(f"the metadata service at {self._base} gave no session token")
        self._sessions = True
        self._token = token
        self._token_until = loop.time() + self._ttl * 0.9
        return token

    async def _request(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        headers: dict[str, str],
        cap: int,
    ) -> tuple[int, bytes]:
        url = URL(self._base + path)
        status, body = await self._remote.ask(
            self._exchange(session, method, url, headers, cap), url
        )
        if body is None:
            raise MalformedResponseError(f"the metadata service's answer is over {cap} bytes")
        return status, body

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        headers: dict[str, str],
        cap: int,
    ) -> tuple[int, bytes | None]:
        async with session.request(
            method, url, headers=headers, **self._remote.options
        ) as response:
            self._remote.answered = True
            return response.status, await read_capped(response, cap)


def _credentials(body: bytes) -> Credentials:
    """Credentials from ``{"credential": {"access", "secret", "securitytoken", "expires_at"}}``."""
    try:
        data: Any = orjson.loads(body)
        credential = data["credential"]
        return Credentials(
            credential["access"],
            credential["secret"],
            security_token=credential["securitytoken"],
            expires_at=parse_expiry(credential["expires_at"]),
        )
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
        # Only the kind of problem: the body holds a secret key and a security token.
        raise MalformedResponseError(
            f"the metadata service's security key is not readable ({type(exc).__name__})"
        ) from None
