"""Who the simulator lets in, and the IAM and metadata services that hand credentials out.

Besides its own token and key pair, it accepts the tokens its IAM endpoint issued
(``POST /v3/auth/tokens``, until they expire) and the temporary keys its metadata
service handed out (``GET /openstack/latest/securitykey``, with their security token,
until they expire). Lifetimes are in simulated seconds, like job durations.
"""

from __future__ import annotations

import hmac
import random
import string
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson
from aiohttp import web

from ._answers import JSON
from ._jobs import format_time
from ._signing import verify

__all__ = ["Credentials", "Identity", "TemporaryKey"]

_TOKEN_CHARS = string.ascii_letters + string.digits + "-_"
_KEY_CHARS = string.ascii_uppercase + string.digits
_SECRET_CHARS = string.ascii_letters + string.digits
_UNAUTHORIZED = {
    "error": {
        "code": 401,
        "message": "The request you have made requires authentication.",
        "title": "Unauthorized",
    }
}
Denial = tuple[int, str, str]  # (status, gateway code, detail)


@attrs.frozen
class TemporaryKey:
    """Keys the metadata service handed out; valid until ``expires`` (loop time)."""

    access_key: str
    secret_key: str
    security_token: str
    expires: float


class Identity:
    """The accepted credentials and the services issuing them, on the scenario's clock.

    Args:
        now: the loop time; wall: a loop time as epoch seconds; record: logs a request
            as (method, path, status).
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        now: Callable[[], float],
        wall: Callable[[float], float],
        record: Callable[[str, str, int], None],
        speed: float,
        project_id: str,
        token: str | None,
        access_key: str | None,
        secret_key: str | None,
        password: str | None,
        token_lifetime: float,
        key_lifetime: float,
        metadata_session_tokens: bool,
    ) -> None:
        if not (token_lifetime > 0 and key_lifetime > 0):
            raise ValueError("token_lifetime and key_lifetime must be > 0")
        self._rng = rng
        self._now = now
        self._wall = wall
        self._record = record
        self._speed = speed
        self.project_id = project_id
        self.project_name = "eu-de_simulated"
        self.username = "sim-user"
        self.domain_name = "OTC00000000001000000001"
        self.token = token or self._new_token()
        self.access_key = access_key or "".join(rng.choices(_KEY_CHARS, k=20))
        self.secret_key = secret_key or "".join(rng.choices(_SECRET_CHARS, k=40))
        self.password = password or "".join(rng.choices(_SECRET_CHARS, k=24))
        self.token_lifetime = float(token_lifetime)
        self.key_lifetime = float(key_lifetime)
        self.metadata_session_tokens = metadata_session_tokens
        self.issued_tokens: dict[str, float] = {}  # token -> loop time it expires
        self.issued_keys: list[TemporaryKey] = []
        self._session_tokens: dict[str, float] = {}

    def _new_token(self) -> str:
        return "MIIT" + "".join(self._rng.choices(_TOKEN_CHARS, k=92))

    def rotate_token(self) -> str:
        self.token = self._new_token()
        return self.token

    def revoke(self) -> None:
        """Refuse every token IAM issued and every temporary key handed out so far."""
        self.issued_tokens.clear()
        self.issued_keys = [attrs.evolve(key, expires=self._now()) for key in self.issued_keys]

    def expire_session_tokens(self) -> None:
        self._session_tokens.clear()

    # -- the gateway check ------------------------------------------------

    def check(self, request: web.Request, body: bytes) -> Denial | None:
        """None when the request carries an accepted token or signature."""
        headers = request.headers
        token = headers.get("X-Auth-Token")
        now = self._now()
        if token is not None:
            if hmac.compare_digest(token.encode(), self.token.encode()):
                return None
            expires = self.issued_tokens.get(token)
            if expires is not None and now < expires:
                return None
            return 401, "APIG.1002", "verify token fail"
        if "Authorization" not in headers:
            return 401, "APIG.1002", "x-auth-token not found"
        live = [key for key in self.issued_keys if now < key.expires]
        path, _, query = request.raw_path.partition("?")
        problem = verify(
            method=request.method,
            path=path,
            raw_query=query,
            headers=headers,
            body=body,
            credentials={
                self.access_key: self.secret_key,
                **{key.access_key: key.secret_key for key in live},
            },
            security_tokens={key.access_key: key.security_token for key in live},
            now=self._wall(now),
        )
        if problem is not None:
            return 401, "APIG.0301", f"verify aksk signature fail: {problem}"
        return None

    # -- IAM ----------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v3/auth/tokens", self._iam_token)
        router.add_put("/meta-data/latest/api/token", self._session_token)
        router.add_get("/openstack/latest/securitykey", self._security_key, allow_head=False)

    async def _iam_token(self, request: web.Request) -> web.Response:
        try:
            auth = orjson.loads(await request.read())["auth"]
            user = auth["identity"]["password"]["user"]
            scope = auth["scope"]["project"]
            given = (user["name"], user["password"], user["domain"]["name"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            error = {"code": 400, "message": "Malformed auth body.", "title": "Bad Request"}
            return self._answer(request, 400, orjson.dumps({"error": error}))
        expected = (self.username, self.password, self.domain_name)
        if not (isinstance(scope, dict) and self._scoped(scope)) or not all(
            isinstance(a, str) and hmac.compare_digest(a.encode(), b.encode())
            for a, b in zip(given, expected, strict=True)
        ):
            return self._answer(request, 401, orjson.dumps(_UNAUTHORIZED))
        now = self._now()
        token = self._new_token()
        expires = now + self.token_lifetime / self._speed
        self.issued_tokens[token] = expires
        project = {"id": self.project_id, "name": self.project_name}
        project["domain"] = {"name": self.domain_name}  # type: ignore[assignment]
        body = {
            "token": {
                "expires_at": format_time(self._wall(expires)),
                "issued_at": format_time(self._wall(now)),
                "methods": ["password"],
                "project": project,
                "user": {"name": self.username, "domain": {"name": self.domain_name}},
                "catalog": [],
            }
        }
        return self._answer(request, 201, orjson.dumps(body), {"X-Subject-Token": token})

    def _scoped(self, scope: Mapping[str, Any]) -> bool:
        if "id" in scope:
            return bool(scope["id"] == self.project_id)
        domain = scope.get("domain")
        return (
            scope.get("name") == self.project_name
            and isinstance(domain, dict)
            and domain.get("name") == self.domain_name
        )

    # -- the metadata service -----------------------------------------------

    async def _session_token(self, request: web.Request) -> web.Response:
        if not self.metadata_session_tokens:
            return self._answer(request, 404, b"Not Found", content_type="text/plain")
        ttl = request.headers.get("X-Metadata-Token-Ttl-Seconds", "")
        if not (ttl.isdigit() and 1 <= int(ttl) <= 21600):
            return self._answer(request, 400, b"Bad Request", content_type="text/plain")
        token = "".join(self._rng.choices(_TOKEN_CHARS, k=56))
        self._session_tokens[token] = self._now() + int(ttl)
        return self._answer(request, 200, token.encode(), content_type="text/plain")

    async def _security_key(self, request: web.Request) -> web.Response:
        now = self._now()
        if self.metadata_session_tokens:
            token = request.headers.get("X-Metadata-Token", "")
            if now >= self._session_tokens.get(token, 0.0):
                return self._answer(request, 401, b"Unauthorized", content_type="text/plain")
        key = self.current_key(now)
        credential = {
            "access": key.access_key,
            "secret": key.secret_key,
            "securitytoken": key.security_token,
            "expires_at": format_time(self._wall(key.expires)),
        }
        return self._answer(request, 200, orjson.dumps({"credential": credential}))

    def current_key(self, now: float | None = None) -> TemporaryKey:
        """The keys the metadata service hands out now: replaced ten minutes (a sixth of
        their life, if shorter) before they expire, the old ones working until then."""
        now = self._now() if now is None else now
        lead = min(600.0, self.key_lifetime / 6) / self._speed
        if self.issued_keys and now < self.issued_keys[-1].expires - lead:
            return self.issued_keys[-1]
        key = TemporaryKey(
            access_key="".join(self._rng.choices(_KEY_CHARS, k=20)),
            secret_key="".join(self._rng.choices(_SECRET_CHARS, k=40)),
            security_token="".join(self._rng.choices(_TOKEN_CHARS, k=120)),
            expires=now + self.key_lifetime / self._speed,
        )
        self.issued_keys.append(key)
        return key

    def _answer(
        self,
        request: web.Request,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        content_type: str = JSON,
    ) -> web.Response:
        self._record(request.method, request.path, status)
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)


class Credentials:
    """The simulator's own credentials, read from its ``identity``."""

    identity: Identity

    @property
    def token(self) -> str:
        """The X-Auth-Token value currently accepted (besides tokens IAM issued)."""
        return self.identity.token

    def rotate_token(self) -> str:
        """Replace the accepted token (the old one stops working) and return the new one."""
        return self.identity.rotate_token()

    @property
    def access_key(self) -> str:
        """The access key of the simulator's lasting key pair."""
        return self.identity.access_key

    @property
    def secret_key(self) -> str:
        """The SK of the signatures accepted."""
        return self.identity.secret_key
