"""What every HTTP request of the library shares: URL checks, TLS and proxy settings, and
telling a connection that can never work from a passing network blip."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import re
import socket
import ssl
import sys
import urllib.request
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypedDict, TypeVar

import aiohttp
import attrs
from yarl import URL

from .._errors import ConnectionSetupError, EvsJobWatchError, ServerError
from .._validate import positive_seconds

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # cattrs, a requirement, brings typing_extensions there
    from typing_extensions import Unpack

__all__ = [
    "MAX_BODY_BYTES",
    "HttpOptions",
    "HttpSettings",
    "Remote",
    "Unpack",
    "check_endpoint",
    "connection_failure",
    "http_settings",
    "is_loopback",
    "origin",
    "read_capped",
]

MAX_BODY_BYTES = 1024 * 1024
_PATH = re.compile(r"[A-Za-z0-9._~/-]*", re.ASCII)
T = TypeVar("T")


def check_endpoint(endpoint: object, allow_insecure_http: bool, what: str = "endpoint") -> str:
    """The endpoint without a trailing slash, if it is a safe absolute URL; else ValueError."""
    if not isinstance(endpoint, str) or not endpoint or endpoint != endpoint.strip():
        raise ValueError(f"{what} must be a URL string without surrounding whitespace")
    if "%" in endpoint or any(char.isspace() for char in endpoint):
        # The URL would be normalised before it is checked (%2e%2e to ..), so no escapes.
        raise ValueError(f"{what} must not hold percent-escapes or whitespace")
    try:
        url = URL(endpoint)
        port = url.port  # yarl checks the port only when asked for it
    except ValueError as exc:
        raise ValueError(f"{what} is not a valid URL: {exc}") from None
    if port == 0:
        raise ValueError(f"{what} port must be from 1 to 65535")
    if url.scheme not in ("https", "http") or not url.raw_host:
        raise ValueError(f"{what} must be an absolute https:// URL with a host")
    if url.raw_user is not None or url.raw_password is not None:
        raise ValueError(f"{what} must not carry user info; pass credentials as auth=")
    if "?" in endpoint or "#" in endpoint:
        raise ValueError(f"{what} must not carry a query or a fragment")
    if not _PATH.fullmatch(url.raw_path):
        raise ValueError(f"{what} path may hold only letters, digits and - . _ ~ /")
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.raw_host):
        raise ValueError(
            f"{what} must use https (http only for a loopback host or allow_insecure_http=True)"
        )
    return endpoint.rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin(url: URL) -> str:
    """``scheme://host:port`` of a URL: never its user info, path or query."""
    host = url.raw_host or ""
    host = f"[{host}]" if ":" in host else host
    return f"{url.scheme}://{host}:{url.port}" if url.port is not None else f"{url.scheme}://{host}"


def _ssl_context(value: ssl.SSLContext | str | os.PathLike[str] | None) -> ssl.SSLContext | None:
    if value is None:
        return None
    if isinstance(value, ssl.SSLContext):
        if value.verify_mode != ssl.CERT_REQUIRED or not value.check_hostname:
            raise ValueError(
                "ssl must verify certificates and host names (CERT_REQUIRED, check_hostname)"
            )
        return value
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bool):
        path = os.fspath(value)
        if not os.path.isfile(path):
            raise ValueError(f"ssl: no CA bundle file at {path!r}")
        # The system's trusted CAs first (as ssl=None has them), then the bundle's: a
        # bundle adds trust, never replaces it (create_default_context(cafile=...) would).
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=path)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"ssl: {path!r} is not a PEM CA bundle ({exc})") from None
        return context
    # Deliberately no switch that turns verification off (ssl=False).
    raise ValueError("ssl takes an ssl.SSLContext or the path of a CA bundle (PEM), or None")


def _proxy_url(value: str | URL | None) -> URL | None:
    if value is None:
        return None
    try:
        # A URL already checked comes back as it is (``attrs.evolve`` converts it again).
        url = value if isinstance(value, URL) else URL(value) if isinstance(value, str) else None
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.raw_host:
        # Not quoted: a proxy URL may hold a password.
        raise ValueError("proxy must be an http:// or https:// URL with a host")
    return url


def _timeout(value: float | timedelta) -> float:
    return positive_seconds(value, "timeout")


def _flag(instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be True or False, got {value!r}")


class HttpOptions(TypedDict, total=False):
    """``HttpSettings``' fields as keyword arguments: what ``EvsJobClient``,
    ``EvsJobClient.from_environment`` and ``PasswordAuth`` take besides ``http=``
    (``**options: Unpack[HttpOptions]`` types a wrapper of one of them)."""

    ssl: ssl.SSLContext | str | os.PathLike[str] | None
    proxy: str | None
    trust_env: bool
    timeout: float | timedelta
    allow_insecure_http: bool


@attrs.frozen(repr=False)
class HttpSettings:
    """How the library connects: TLS, proxy, proxies from the environment, timeout, and
    whether plain http may leave the host. Checked when made (``ValueError`` for a bad
    value, ``TypeError`` for a wrong type); frozen, so one object can serve several.

    ``EvsJobClient``, ``EvsJobClient.from_environment`` and ``PasswordAuth`` take it as
    ``http=``, or its fields as keyword arguments (``timeout=5``), or both: a keyword
    given replaces that field of ``http``. ``from_environment`` hands the same settings
    to the client and to IAM.

    Args:
        ssl: None for the system's CAs, an ``ssl.SSLContext`` (it must verify), or the
            path of a PEM CA bundle to trust as well as the system's CAs (read here).
            There is no switch to turn verification off.
        proxy: a proxy URL for every request (it may carry ``user:password@``, never
            shown in a ``repr``).
        trust_env: when ``proxy`` is not given, take it from ``HTTPS_PROXY`` /
            ``HTTP_PROXY`` / ``NO_PROXY`` (as urllib and aiohttp read them).
        timeout: seconds one request may take, connecting included.
        allow_insecure_http: permit ``http://`` to a host that is not loopback.
    """

    ssl: ssl.SSLContext | None = attrs.field(default=None, converter=_ssl_context)
    proxy: URL | None = attrs.field(default=None, converter=_proxy_url)
    trust_env: bool = attrs.field(default=True, validator=_flag)
    timeout: float = attrs.field(default=30.0, converter=_timeout)
    allow_insecure_http: bool = attrs.field(default=False, validator=_flag)

    def __repr__(self) -> str:
        # The proxy's origin only: its user info may hold a password.
        proxy = origin(self.proxy) if self.proxy is not None else None
        tls = "SSLContext" if self.ssl is not None else None
        return (
            f"HttpSettings(ssl={tls}, proxy={proxy!r}, trust_env={self.trust_env}, "
            f"timeout={self.timeout:g}, allow_insecure_http={self.allow_insecure_http})"
        )


_FIELDS = tuple(HttpOptions.__annotations__)


def http_settings(http: HttpSettings | None, options: HttpOptions, where: str) -> HttpSettings:
    """The settings of ``http`` (None: the defaults) with ``options``, the keyword
    arguments ``where`` was given, in place of its fields; checked, as ``HttpSettings``
    checks them. A keyword that is no field is a ``TypeError``, as Python's own."""
    if http is not None and not isinstance(http, HttpSettings):
        raise TypeError(f"http must be an HttpSettings, got {type(http).__name__}")
    for name in options:
        if name not in _FIELDS:
            known = ", ".join(_FIELDS)
            raise TypeError(
                f"{where}() got an unexpected keyword argument {name!r} "
                f"(its connection settings are {known}, or http=HttpSettings(...))"
            )
    if http is None:
        return HttpSettings(**options)
    return attrs.evolve(http, **options) if options else http


def _proxy_for(http: HttpSettings, url: URL) -> URL | None:
    """The proxy requests to ``url`` go through under ``http``, if any.

    Decided once per server rather than left to aiohttp's ``trust_env``, which looks
    the variables up (and reads ``~/.netrc``, whose credentials would clash with a
    signature) in a thread on every request.
    """
    if http.proxy is not None or not http.trust_env:
        return http.proxy
    host = url.raw_host or ""
    if not host or urllib.request.proxy_bypass(host):
        return None
    found = urllib.request.getproxies().get(url.scheme)
    try:
        return _proxy_url(found)
    except ValueError:
        return None  # a proxy of a kind aiohttp cannot use (socks5://...): go direct


def _request_options(http: HttpSettings, url: URL) -> dict[str, Any]:
    """Keyword arguments for every request to ``url``'s server under ``http``: no
    redirects, the timeout, TLS, and its proxy."""
    options: dict[str, Any] = {
        "allow_redirects": False,
        "timeout": aiohttp.ClientTimeout(total=float(http.timeout)),
    }
    if http.ssl is not None:
        options["ssl"] = http.ssl
    proxy = _proxy_for(http, url)
    if proxy is not None:
        options["proxy"] = proxy
    return options


# aiohttp 3.10+ names DNS failures apart (whichever resolver); before, a gaierror says it.
_DNS_ERRORS: tuple[type[aiohttp.ClientConnectorError], ...] = tuple(
    getattr(aiohttp, name) for name in ("ClientConnectorDNSError",) if hasattr(aiohttp, name)
)


def _setup_reason(exc: BaseException) -> tuple[str, str | None] | None:
    """Why a connection could not be set up, and through which proxy; None for the
    failures that can happen to a connection that works (drops, timeouts, bad bodies)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        problem = exc.certificate_error
        detail = getattr(problem, "verify_message", None) or getattr(problem, "reason", None)
        return f"certificate verify failed ({detail or type(problem).__name__})", None
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        detail = getattr(exc.os_error, "reason", None) or type(exc.os_error).__name__
        return f"TLS handshake failed ({detail})", None
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        proxy = f"{exc.host}:{exc.port}"
        return f"the proxy {proxy} cannot be reached ({_os_reason(exc.os_error)})", proxy
    if isinstance(exc, _DNS_ERRORS):
        detail = exc.os_error.strerror or str(exc.os_error) or "name not resolved"
        return f"unknown host ({detail})", None
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _os_reason(exc.os_error), None
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        # Only the status: the error also holds the proxy request, with its headers.
        return f"the proxy refused the tunnel with HTTP {exc.status}", None
    return None


def _os_reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror or 'name not resolved'})"
    if isinstance(error, ConnectionRefusedError) or error.errno == errno.ECONNREFUSED:
        return "connection refused"
    if error.errno:
        return os.strerror(error.errno).lower()
    return f"could not connect ({type(error).__name__})"


def connection_failure(
    exc: aiohttp.ClientError | asyncio.TimeoutError,
    url: URL,
    *,
    answered: bool,
    proxy: str | None = None,
    job_id: str | None = None,
) -> EvsJobWatchError:
    """The error for a request that got no answer.

    Before the server ever answered, a failure to connect (certificate, unknown host,
    refused port, proxy) is a ``ConnectionSetupError``: retrying would only hide it.
    Once it has answered, the same failure is a blip: a ``ServerError``, retried.
    """
    found = _setup_reason(exc)
    if found is not None and not answered:
        reason, via = found
        host = url.raw_host or ""
        return ConnectionSetupError(
            url.scheme, host, url.port, reason, proxy=proxy or via, job_id=job_id
        )
    if found is not None:
        reason = found[0]
    elif isinstance(exc, asyncio.TimeoutError):
        reason = "timed out"
    else:
        reason = "no answer"
    kind = type(exc).__name__
    return ServerError(f"request to {origin(url)} failed: {reason} ({kind})", job_id=job_id)


class Remote:
    """One server as the library's requests meet it, under one set of settings: its
    endpoint (checked), the options of every request to it (its proxy decided here,
    once), whether it has answered yet, and what a request to it that got no answer
    raises (``connection_failure``). The client, IAM and the metadata service each
    have one.

    Args:
        http: the connection settings.
        endpoint: the server's base URL (``check_endpoint``; ValueError naming ``what``).
        what: what the endpoint is called in an error.
    """

    __slots__ = ("_proxy", "answered", "endpoint", "http", "options")

    def __init__(self, http: HttpSettings, endpoint: object, what: str = "endpoint") -> None:
        self.http = http
        self.endpoint = check_endpoint(endpoint, http.allow_insecure_http, what)
        self.options = _request_options(http, URL(self.endpoint))
        proxy = self.options.get("proxy")
        self._proxy = origin(proxy) if proxy is not None else None
        # Until the server has answered once, failing to connect is a setup problem.
        self.answered = False

    def session(self, limit: int = 100) -> aiohttp.ClientSession:
        """A new session (the proxy comes with ``options``, not from the session)."""
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))

    async def ask(self, request: Awaitable[T], url: URL, *, job_id: str | None = None) -> T:
        """Await ``request`` (which sets ``answered`` once a response comes); a connection
        failure or timeout becomes our error, raised outside the handler, so that no
        ``__context__`` carries aiohttp's exception: some of those keep the request's
        headers, and so a token. The job query does the same inline (``failure``), so
        that a poll is one coroutine."""
        failure: EvsJobWatchError
        try:
            return await request
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failure = self.failure(exc, url, job_id)
        raise failure

    def failure(
        self, exc: aiohttp.ClientError | asyncio.TimeoutError, url: URL, job_id: str | None = None
    ) -> EvsJobWatchError:
        """The error for a request to this server that got no answer (see ``ask``; a
        caller that awaits its request itself, in one coroutine, raises it as ``ask``
        does: outside the handler)."""
        return connection_failure(
            exc, url, answered=self.answered, proxy=self._proxy, job_id=job_id
        )


async def read_capped(response: aiohttp.ClientResponse, cap: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None when it is larger than ``cap`` (then it is not read to the end).

    The cap counts the bytes as decoded: a compressed body is counted as it inflates.
    """
    length = response.content_length
    if length is not None and length > cap:
        return None
    if length is not None and "Content-Encoding" not in response.headers:
        return await response.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
