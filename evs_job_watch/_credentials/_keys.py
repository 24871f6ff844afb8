"""Credentials: an access key pair, with the security token and expiry of temporary keys."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timezone
from typing import Protocol

import attrs

__all__ = ["Credentials", "CredentialsProvider", "check_secret", "parse_expiry"]

_MAX_SECRET_CHARS = 64 * 1024


def check_secret(name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a clean non-empty string; never quote it."""
    if not isinstance(value, str) or not value or len(value) > _MAX_SECRET_CHARS:
        raise ValueError(f"{name} must be a non-empty string of sane length")
    if not value.isprintable() or value != value.strip():
        raise ValueError(f"{name} must be a non-empty printable string without spaces around")


def parse_expiry(value: object) -> datetime | None:
    """An ``expires_at`` of IAM or the metadata service as an aware datetime (None: absent)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError("expires_at is not a time")
    text = value[:-1] + "+00:00" if value[-1] in "Zz" else value  # 3.10 reads no "Z"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expires_at is not a time: {value!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _check(instance: Credentials, attribute: attrs.Attribute[str], value: object) -> None:
    check_secret(attribute.name, value)


def _check_token(
    instance: Credentials, attribute: attrs.Attribute[str | None], value: object
) -> None:
    if value is not None:
        check_secret(attribute.name, value)


def _check_expiry(
    instance: Credentials, attribute: attrs.Attribute[datetime | None], value: object
) -> None:
    if value is not None and not (isinstance(value, datetime) and value.tzinfo is not None):
        raise ValueError("expires_at must be an aware datetime (or None for no expiry)")


@attrs.frozen(repr=False)
class Credentials:
    """An access key pair as a credentials provider returns it.

    Temporary keys (from the metadata service or an agency) come with a
    ``security_token``, sent and signed with each request, and an ``expires_at``; they
    are renewed ahead of it. ``expires_at=None`` means they last until refused.

    Attributes:
        access_key: the access key id (AK).
        secret_key: the secret key (SK); never shown.
        security_token: the security token of temporary keys; never shown.
        expires_at: when the keys expire (an aware datetime), or None.
    """

    access_key: str = attrs.field(validator=_check)
    secret_key: str = attrs.field(validator=_check)
    security_token: str | None = attrs.field(default=None, validator=_check_token)
    expires_at: datetime | None = attrs.field(default=None, validator=_check_expiry)

    def __repr__(self) -> str:
        token = ", security_token=<redacted>" if self.security_token is not None else ""
        return f"Credentials(<redacted>{token}, expires_at={self.expires_at!r})"


class CredentialsProvider(Protocol):
    """What ``AkSkAuth.from_provider`` takes: an async callable that returns ``Credentials``
    (``MetadataCredentials`` is one)."""

    def __call__(self) -> Awaitable[Credentials]: ...
