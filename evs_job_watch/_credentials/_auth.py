"""Credentials: an IAM token (fixed or from a provider) or an AK/SK request signature."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

from yarl import URL

from .._errors import AuthenticationError
from ._keys import Credentials, CredentialsProvider
from ._renewal import Fetch, Renewal

__all__ = ["AkSkAuth", "Auth", "TokenAuth", "TokenProvider", "sign_request", "token_headers"]


class TokenProvider(Protocol):
    """What ``TokenAuth(provider)`` takes: an async callable that returns a fresh token."""

    def __call__(self) -> Awaitable[str]: ...


_TOKEN_HEADER = "X-Auth-Token"
_MAX_TOKEN_CHARS = 64 * 1024
_AK_SK_MARGIN = 300.0  # metadata keys are replaced ten minutes before expiry: renew after


class Auth(Protocol):
    """What ``EvsJobClient(auth=...)`` needs of a credential.

    ``TokenAuth``, ``AkSkAuth`` and ``PasswordAuth`` implement it; so may a class of
    yours, for another way of signing requests. Such a class may also have a synchronous
    ``current_headers(method, url)`` returning the headers when they are ready without
    awaiting anything, else None; the client then awaits ``headers`` only for None.
    """

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

    __slots__ = ("_fixed", "_renewal")

    def __init__(self, token: str | TokenProvider) -> None:
        self._fixed: Mapping[str, str] | None = None
        self._renewal: Renewal[Mapping[str, str]] | None = None
        if isinstance(token, str):
            self._fixed = token_headers(token)
        elif callable(token):
            self._renewal = Renewal(
                _from_token_provider(token), what="token provider", margin=0.0, fraction=0.0
            )
        else:
            raise TypeError("TokenAuth takes a token string or an async callable returning one")

    def __repr__(self) -> str:
        source = "provider" if self._renewal is not None else "token"
        return f"TokenAuth(<{source}, redacted>)"

    def current_headers(self, method: str, url: URL) -> Mapping[str, str] | None:
        """``X-Auth-Token`` when it is ready (a fixed token, or a provider's token already
        fetched); None when ``headers`` must first fetch it. Awaits nothing."""
        return self._fixed if self._renewal is None else self._renewal.fresh()

    async def headers(self, method: str, url: URL) -> Mapping[str, str]:
        """``X-Auth-Token``; with a provider, its token (fetched on first use)."""
        if self._renewal is None:
            assert self._fixed is not None
            return self._fixed
        return await self._renewal.get()

    async def refresh(self, used: Mapping[str, str]) -> bool:
        """After ``used`` was refused: a fresh token from the provider (once for all)."""
        if self._renewal is None:
            return False
        await self._renewal.renew(used)
        return True


def _from_token_provider(provider: TokenProvider) -> Fetch[Mapping[str, str]]:
    async def fetch() -> tuple[Mapping[str, str], None]:
        return token_headers(await provider()), None

    return fetch


def token_headers(token: object) -> Mapping[str, str]:
    """``{"X-Auth-Token": token}``; AuthenticationError (quoting nothing) for junk."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
        raise AuthenticationError("the token is not a non-empty string of sane length")
    if not token.isprintable() or token != token.strip():
        raise AuthenticationError("the token holds whitespace or control characters")
    return {_TOKEN_HEADER: token}


class AkSkAuth:
    """An access key pair; each request is signed with SDK-HMAC-SHA256.

    Args:
        access_key: the access key id (AK), sent in the ``Authorization`` header.
        secret_key: the secret key (SK), used only to sign; never sent, shown or logged.
        security_token: the security token of temporary keys, sent and signed.

    Temporary keys come with a ``security_token``: it is sent as ``X-Security-Token`` and
    signed with the request. For keys that expire, use ``AkSkAuth.from_provider``.
    """

    __slots__ = ("_fixed", "_renewal")

    def __init__(
        self, access_key: str, secret_key: str, *, security_token: str | None = None
    ) -> None:
        self._fixed: Credentials | None = Credentials(
            access_key, secret_key, security_token=security_token
        )
        self._renewal: Renewal[Credentials] | None = None

    @classmethod
    def from_provider(cls, provider: CredentialsProvider) -> AkSkAuth:
        """Keys from ``provider`` (an async callable returning ``Credentials``).

        It is called before the first request, again ahead of the keys' ``expires_at``
        (five minutes before, or a twelfth of their life if shorter), and once after a
        refusal; however many requests need keys at once, one call runs.
        """
        return _ProvidedAkSkAuth(provider)

    def __repr__(self) -> str:
        source = "provider, " if self._renewal is not None else ""
        return f"AkSkAuth(<{source}redacted>)"

    def current_headers(self, method: str, url: URL) -> Mapping[str, str] | None:
        """The signature of this request, dated now, when the keys are ready (fixed, or
        a provider's not yet due for renewal); None when ``headers`` must first fetch
        them. Awaits nothing."""
        keys = self._fixed if self._renewal is None else self._renewal.fresh()
        return None if keys is None else _signed(method, url, keys)

    async def headers(self, method: str, url: URL) -> Mapping[str, str]:
        """The signature of this request, dated now."""
        keys = self._fixed if self._renewal is None else await self._renewal.get()
        assert keys is not None
        return _signed(method, url, keys)

    async def refresh(self, used: Mapping[str, str]) -> bool:
        """After ``used`` was refused: fresh keys from the provider (once for all)."""
        if self._renewal is None:
            return False  # a fixed key pair cannot be renewed: a refusal is final
        current = self._renewal.current
        # Renew only if the refused request was signed with the current keys; if not,
        # another request renewed them already.
        await self._renewal.renew(current if current is None or _signed_by(used, current) else None)
        return True


class _ProvidedAkSkAuth(AkSkAuth):
    """An ``AkSkAuth`` whose keys come from a provider and are renewed (see from_provider)."""

    __slots__ = ()

    def __init__(self, provider: CredentialsProvider) -> None:
        if not callable(provider):
            raise TypeError("from_provider takes an async callable returning Credentials")
        self._fixed = None
        self._renewal = Renewal(
            _from_credentials_provider(provider),
            what="credentials provider",
            margin=_AK_SK_MARGIN,
            fraction=1 / 12,
        )


def _signed(method: str, url: URL, keys: Credentials) -> Mapping[str, str]:
    """The signature of one request with ``keys``, dated now."""
    sdk_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return sign_request(
        method,
        url,
        keys.access_key,
        keys.secret_key.encode(),
        sdk_date,
        security_token=keys.security_token,
    )


def _signed_by(headers: Mapping[str, str], keys: Credentials) -> bool:
    return headers.get("X-Security-Token") == keys.security_token and (
        f"Access={keys.access_key}," in headers.get("Authorization", "")
    )


def _from_credentials_provider(provider: CredentialsProvider) -> Fetch[Credentials]:
    async def fetch() -> tuple[Credentials, datetime | None]:
        keys = await provider()
        if not isinstance(keys, Credentials):
            raise AuthenticationError("the credentials provider did not return Credentials")
        return keys, keys.expires_at

    return fetch


def sign_request(
    method: str,
    url: URL,
    access_key: str,
    secret_key: bytes,
    sdk_date: str,
    body: bytes = b"",
    *,
    security_token: str | None = None,
) -> dict[str, str]:
    """The headers of an SDK-HMAC-SHA256 signature (``Host``, ``X-Sdk-Date``, ``Authorization``,
    and ``X-Security-Token`` for temporary keys, which is then signed too)."""
    host = url.raw_host or ""
    if url.explicit_port is not None and not url.is_default_port():
        host = f"{host}:{url.explicit_port}"
    path = url.raw_path if url.raw_path.endswith("/") else url.raw_path + "/"
    query = "&".join(
        f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}"
        for key, value in sorted(url.query.items())
    )
    # Lowercase names, sorted: x-sdk-date sorts before x-security-token.
    signed = {"host": host, "x-sdk-date": sdk_date}
    if security_token is not None:
        signed["x-security-token"] = security_token
    canonical = "\n".join(
        (
            method.upper(),
            path,
            query,
            "".join(f"{name}:{value}\n" for name, value in signed.items()),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        )
    )
    to_sign = f"SDK-HMAC-SHA256\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(secret_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {"Host": host, "X-Sdk-Date": sdk_date}
    if security_token is not None:
        headers["X-Security-Token"] = security_token
    headers["Authorization"] = (
        f"SDK-HMAC-SHA256 Access={access_key}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}"
    )
    return headers
