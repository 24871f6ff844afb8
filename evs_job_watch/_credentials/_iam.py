"""PasswordAuth: IAM tokens from a user name and password (Keystone v3, both clouds)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from yarl import URL

from .._errors import AuthenticationError, MalformedResponseError, ServerError, ThrottledError
from .._validate import check_id
from .._wire._codec import error_fields
from .._wire._http import HttpOptions, HttpSettings, Remote, Unpack, http_settings, read_capped
from ._auth import token_headers
from ._keys import check_secret, parse_expiry
from ._renewal import Renewal

__all__ = ["PasswordAuth"]

# Tokens last 24 hours: renew one hour ahead (or at three quarters of a shorter life).
_MARGIN = 3600.0
_FRACTION = 0.25


def _name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value or not value.isprintable() or len(value) > 255:
        raise ValueError(f"{what} must be a non-empty printable string")
    return value


class PasswordAuth:
    """An IAM user's name and password, traded for a token sent as ``X-Auth-Token``.

    The token is fetched with ``POST {iam_endpoint}/v3/auth/tokens`` before the first
    request, reused until an hour before its ``expires_at``, and fetched anew once
    after a refusal; however many requests need it at once, one fetch runs. The
    password is kept only to send to IAM: never in a repr, a log line or an error.

    Args:
        username: the IAM user's name.
        password: the IAM user's password.
        domain_name: the user's domain (account) name, e.g. ``OTC00000000001000000xxx``.
        project_id: the project the token is scoped to (this or ``project_name``).
        project_name: the project by name, in the user's domain (looked up through IAM).
        iam_endpoint: e.g. ``https://iam.eu-de.otc.t-systems.com`` (a trailing ``/v3``
            is accepted, as in ``clouds.yaml``'s ``auth_url``).
        http: the connection settings (``HttpSettings``), as for ``EvsJobClient``: one
            object may serve both.
        **options: fields of ``HttpSettings`` one by one (``ssl``, ``proxy``,
            ``trust_env``, ``timeout``, ``allow_insecure_http``), as for ``EvsJobClient``.
    """

    __slots__ = (
        "_domain",
        "_iam",
        "_password",
        "_project",
        "_remote",
        "_renewal",
        "_scope",
        "_username",
    )

    def __init__(
        self,
        username: str,
        password: str,
        *,
        domain_name: str,
        project_id: str | None = None,
        project_name: str | None = None,
        iam_endpoint: str,
        http: HttpSettings | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        self._username = _name("username", username)
        check_secret("password", password)
        self._password = password
        self._domain = _name("domain_name", domain_name)
        if (project_id is None) == (project_name is None):
            raise ValueError("give exactly one of project_id and project_name")
        self._project: str | None = None
        if project_id is not None:
            self._project = check_id(project_id, "project id")
            self._scope: dict[str, Any] = {"id": project_id}
        else:
            name = _name("project_name", project_name)
            self._scope = {"name": name, "domain": {"name": self._domain}}
        settings = http_settings(http, options, "PasswordAuth")
        self._remote = Remote(settings, iam_endpoint, "iam_endpoint")
        self._iam = self._remote.endpoint.removesuffix("/v3")
        self._renewal = Renewal(self._fetch, what="IAM", margin=_MARGIN, fraction=_FRACTION)

    def __repr__(self) -> str:
        scope = ", ".join(
            f"{key}={value!r}" for key, value in self._scope.items() if key != "domain"
        )
        return (
            f"PasswordAuth(user={self._username!r}, domain={self._domain!r}, project({scope}), "
            f"iam={self._iam!r}, password=<redacted>)"
        )

    @property
    def http(self) -> HttpSettings:
        """The connection settings of the token requests."""
        return self._remote.http

    def current_headers(self, method: str, url: URL) -> Mapping[str, str] | None:
        """``X-Auth-Token`` when the current token is not yet due for renewal; None when
        ``headers`` must first fetch or renew it. Awaits nothing."""
        return self._renewal.fresh()

    async def headers(self, method: str, url: URL) -> Mapping[str, str]:
        """``X-Auth-Token`` with the current token, fetched first or renewed when due."""
        return await self._renewal.get()

    async def refresh(self, used: Mapping[str, str]) -> bool:
        """After ``used`` was refused: a new token from IAM (once for all requests)."""
        await self._renewal.renew(used)
        return True

    async def resolve_project_id(self) -> str:
        """The id of the token's project: given, or learnt from IAM (fetching a token)."""
        if self._project is None:
            await self._renewal.get()
        if self._project is None:
            raise MalformedResponseError("IAM's token answer names no project id")
        return self._project

    def _request_body(self) -> bytes:
        user = {
            "name": self._username,
            "password": self._password,
            "domain": {"name": self._domain},
        }
        return orjson.dumps(
            {
                "auth": {
                    "identity": {"methods": ["password"], "password": {"user": user}},
                    "scope": {"project": self._scope},
                }
            }
        )

    async def _fetch(self) -> tuple[Mapping[str, str], datetime | None]:
        url = URL(f"{self._iam}/v3/auth/tokens")
        status, token, retry_after, body = await self._remote.ask(self._post(url), url)
        data = _json(body)
        if status in (200, 201):
            return token_headers(token), self._read_token(data)
        raise self._refusal(status, data, retry_after)

    async def _post(self, url: URL) -> tuple[int, str | None, str | None, bytes | None]:
        """One token request: the status, the token, ``Retry-After`` and the body."""
        # A session per fetch: a token lasts a day, and nothing is left open between.
        async with (
            self._remote.session(limit=1) as session,
            session.post(
                url,
                data=self._request_body(),
                headers={"Content-Type": "application/json"},
                **self._remote.options,
            ) as response,
        ):
            self._remote.answered = True
            status, token = response.status, response.headers.get("X-Subject-Token")
            retry_after = response.headers.get("Retry-After")
            return status, token, retry_after, await read_capped(response)

    def _read_token(self, data: Any) -> datetime | None:
        """The token's expiry, and its project's id when only the name was given."""
        inner = data.get("token") if isinstance(data, dict) else None
        inner = inner if isinstance(inner, dict) else {}
        project = inner.get("project")
        try:
            if isinstance(project, dict) and self._project is None:
                self._project = check_id(project.get("id"), "project id")
            return parse_expiry(inner.get("expires_at"))
        except ValueError as exc:
            # Not the body itself: a token answer is not to be quoted.
            raise MalformedResponseError(f"IAM's token answer: {exc}") from None

    def _refusal(self, status: int, data: Any, retry_after: str | None) -> Exception:
        code, message = error_fields(data) or (None, None)
        if code == str(status):
            code = None  # Keystone's "code" is the HTTP status again
        if message and self._password in message:
            message = message.replace(self._password, "<redacted>")
        where = f"IAM at {self._iam}"
        if status == 429:
            seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
            return ThrottledError(f"{where} throttled the token request", retry_after=seconds)
        if status >= 500:
            return ServerError(f"{where} failed: {message or 'no message'}", status=status)
        if status == 401:
            text = f"{where} refused the password of user {self._username!r} ({self._domain})"
        else:
            text = f"{where} refused the token request: {message or 'no message'}"
        return AuthenticationError(text, status=status, code=code)


def _json(body: bytes | None) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
