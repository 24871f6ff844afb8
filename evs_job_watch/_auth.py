"""Credentials: an IAM token (fixed or from a provider) or an AK/SK request signature."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol
from urllib.parse import quote

from yarl import URL

from ._errors import AuthenticationError

__all__ = ["AkSkAuth", "Auth", "TokenAuth", "sign_request"]

logger = logging.getLogger("evs_job_watch")  # see docs/logging.md; never a credential

TokenProvider = Callable[[], Awaitable[str]]
_TOKEN_HEADER = "X-Auth-Token"
_MAX_TOKEN_CHARS = 64 * 1024


class Auth(Protocol):
    """What the client needs of a credential (both classes here implement it)."""

    async def headers(self, method: str, url: URL) -> Mapping[str, str]:
        """The headers that authenticate one request."""

    async def refresh(self, used: Mapping[str, str]) -> bool:
        """After ``used`` was refused: renew the credential; True if a retry may help."""


class TokenAuth:
    """An IAM token sent as ``X-Auth-Token``.

    Args:
        token: the token itself, or an async callable returning a fresh one. A provider is
            called for the first request and again once each time the API refuses the
            current token; concurrent refusals share that one call.
    """

    __slots__ = ("_headers", "_provider", "_refreshing")

    def __init__(self, token: str | TokenProvider) -> None:
        self._provider: TokenProvider | None = None
        self._headers: Mapping[str, str] | None = None
        self._refreshing: asyncio.Future[Mapping[str, str]] | None = None
        if isinstance(token, str):
            self._headers = {_TOKEN_HEADER: _checked_token(token)}
        elif callable(token):
            self._provider = token
        else:
            raise TypeError("TokenAuth takes a token string or an async callable returning one")

    def __repr__(self) -> str:
        source = "provider" if self._provider is not None else "token"
        return f"TokenAuth(<{source}, redacted>)"

    async def headers(self, method: str, url: URL) -> Mapping[str, str]:
        """``X-Auth-Token``; from the provider on first use, with a provider."""
        if self._headers is not None:
            return self._headers
        return await self._fetch()

    async def refresh(self, used: Mapping[str, str]) -> bool:
        """After ``used`` was refused: a fresh token from the provider (once for all)."""
        if self._provider is None:
            return False
        if self._headers is not None and self._headers is not used:
            return True  # another request already renewed the token that was refused
        await self._fetch()
        return True

    def _fetch(self) -> asyncio.Future[Mapping[str, str]]:
        # Single flight: every caller waiting for a token awaits the same provider call.
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._call_provider())
        return self._refreshing

    async def _call_provider(self) -> Mapping[str, str]:
        assert self._provider is not None
        failure = None
        try:
            token = await self._provider()
        except Exception as exc:
            failure = type(exc).__name__
        if failure is not None:
            logger.warning("the token provider raised %s", failure)
            # Only the type, raised outside the handler so that no __context__ keeps the
            # provider's exception: its message might quote a credential.
            raise AuthenticationError(f"the token provider raised {failure}")
        self._headers = {_TOKEN_HEADER: _checked_token(token)}
        logger.info("the token provider gave a fresh token")
        return self._headers


def _checked_token(token: object) -> str:
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
        raise AuthenticationError("the token is not a non-empty string of sane length")
    if not token.isprintable() or token != token.strip():
        raise AuthenticationError("the token holds whitespace or control characters")
    return token


class AkSkAuth:
    """An access key pair; each request is signed with SDK-HMAC-SHA256.

    Args:
        access_key: the access key id (AK), sent in the ``Authorization`` header.
        secret_key: the secret key (SK), used only to sign; never sent, shown or logged.
    """

    __slots__ = ("_access_key", "_secret_key")

    def __init__(self, access_key: str, secret_key: str) -> None:
        for name, value in (("access_key", access_key), ("secret_key", secret_key)):
            if not isinstance(value, str) or not value or not value.isprintable():
                raise ValueError(f"{name} must be a non-empty printable string")
        self._access_key = access_key
        self._secret_key = secret_key.encode()

    def __repr__(self) -> str:
        return "AkSkAuth(<redacted>)"

    async def headers(self, method: str, url: URL) -> Mapping[str, str]:
        """The signature of this request, dated now."""
        sdk_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return sign_request(method, url, self._access_key, self._secret_key, sdk_date)

    async def refresh(self, used: Mapping[str, str]) -> bool:
        """Always False: a signature cannot be renewed, a refused key pair is final."""
        return False  # a signature cannot be renewed: a refused key pair is final


def sign_request(
    method: str, url: URL, access_key: str, secret_key: bytes, sdk_date: str, body: bytes = b""
) -> dict[str, str]:
    """The headers of an SDK-HMAC-SHA256 signature (``Host``, ``X-Sdk-Date``, ``Authorization``)."""
    host = url.raw_host or ""
    if url.explicit_port is not None and not url.is_default_port():
        host = f"{host}:{url.explicit_port}"
    path = url.raw_path if url.raw_path.endswith("/") else url.raw_path + "/"
    query = "&".join(
        f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}"
        for key, value in sorted(url.query.items())
    )
    canonical = "\n".join(
        (
            method.upper(),
            path,
            query,
            f"host:{host}\nx-sdk-date:{sdk_date}\n",
            "host;x-sdk-date",
            hashlib.sha256(body).hexdigest(),
        )
    )
    to_sign = f"SDK-HMAC-SHA256\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(secret_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Host": host,
        "X-Sdk-Date": sdk_date,
        "Authorization": (
            f"SDK-HMAC-SHA256 Access={access_key}, SignedHeaders=host;x-sdk-date, "
            f"Signature={signature}"
        ),
    }
