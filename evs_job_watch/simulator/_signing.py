"""SDK-HMAC-SHA256 (AK/SK) signing, written independently of the library's signer.

The simulator uses it to verify signed requests, so the library's own signer is
checked against a second implementation rather than against itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote

__all__ = [
    "ALGORITHM",
    "DATE_FORMAT",
    "MAX_CLOCK_SKEW",
    "authorization",
    "canonical_request",
    "parse_authorization",
    "signature",
    "verify",
]

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = 15 * 60.0


def _canonical_query(raw_query: str) -> str:
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_request(
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes,
) -> str:
    """Build the canonical request text.

    Args:
        path: the URI path percent-encoded as sent; a trailing slash is added.
        headers: header values by lowercase name; must hold every signed header.
        signed_headers: lowercase names, sorted.
    """
    uri = path if path.endswith("/") else path + "/"
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    return "\n".join(
        (
            method.upper(),
            uri,
            _canonical_query(raw_query),
            canonical_headers,
            ";".join(signed_headers),
            hashlib.sha256(body).hexdigest(),
        )
    )


def signature(secret_key: str, sdk_date: str, canonical: str) -> str:
    """Sign a canonical request: hex HMAC-SHA256 over the string to sign."""
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{sdk_date}\n{digest}"
    return hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(
    access_key: str,
    secret_key: str,
    *,
    method: str,
    path: str,
    raw_query: str = "",
    headers: Mapping[str, str],
    body: bytes = b"",
) -> str:
    """Return the `Authorization` value signing every header in `headers`.

    `headers` must include `host` and `x-sdk-date` (any case).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    signed = sorted(lowered)
    canonical = canonical_request(method, path, raw_query, lowered, signed, body)
    sig = signature(secret_key, lowered["x-sdk-date"], canonical)
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed)}, Signature={sig}"


def parse_authorization(value: str) -> tuple[str, list[str], str] | None:
    """Split an `Authorization` value into (access key, signed headers, signature)."""
    prefix = ALGORITHM + " "
    if not value.startswith(prefix):
        return None
    fields: dict[str, str] = {}
    for part in value[len(prefix) :].split(","):
        name, sep, field = part.strip().partition("=")
        if not sep:
            return None
        fields[name] = field
    try:
        access, signed, sig = fields["Access"], fields["SignedHeaders"], fields["Signature"]
    except KeyError:
        return None
    names = signed.split(";")
    if not access or not sig or any(not name or name != name.lower() for name in names):
        return None
    return access, names, sig


def verify(
    *,
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    now: float,
    security_tokens: Mapping[str, str] | None = None,
) -> str | None:
    """Check a signed request; return None when valid, else why it is not.

    Args:
        headers: the received headers (names in any case).
        credentials: secret key by access key.
        now: the current wall time (epoch seconds) the date is checked against.
        security_tokens: by access key, the security token temporary keys must send
            (as ``X-Security-Token``) and sign.
    """
    headers = {name.lower(): value for name, value in headers.items()}
    parsed = parse_authorization(headers.get("authorization", ""))
    if parsed is None:
        return "malformed Authorization header"
    access, signed, sig = parsed
    secret = credentials.get(access)
    if secret is None:
        return "unknown access key"
    sdk_date = headers.get("x-sdk-date", "")
    try:
        stamp = datetime.strptime(sdk_date, DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return "missing or malformed X-Sdk-Date"
    if abs(stamp.timestamp() - now) > MAX_CLOCK_SKEW:
        return "X-Sdk-Date is too far from the server time"
    if "x-sdk-date" not in signed or signed != sorted(signed):
        return "SignedHeaders must be sorted and include x-sdk-date"
    expected_token = (security_tokens or {}).get(access)
    if expected_token is not None:
        sent = headers.get("x-security-token", "")
        if not hmac.compare_digest(sent.encode(), expected_token.encode()):
            return "temporary keys need their X-Security-Token"
        if "x-security-token" not in signed:
            return "X-Security-Token must be signed"
    values: dict[str, str] = {}
    for name in signed:
        value = headers.get(name)
        if value is None:
            return f"signed header {name} is missing"
        values[name] = value
    canonical = canonical_request(method, path, raw_query, values, signed, body)
    expected = signature(secret, sdk_date, canonical)
    if not hmac.compare_digest(expected, sig):
        return "signature mismatch"
    return None
