"""Bytes to disks: the EVS disk listing (``os-vendor-volumes/detail``) checked and decoded.

Hand-written checks rather than the job codec's converter: a listing is read far less
often than a job, and only a few of its fields matter. Anything that is not a listing
of disks is a ``MalformedResponseError``, as for a job.
"""

from __future__ import annotations

import re
from typing import Any

from .._errors import MalformedResponseError
from .._models import Volume
from ._codec import loads

__all__ = ["MAX_IDS", "volumes_from"]

MAX_IDS = 60  # disks one listing answers at most
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MAX_TEXT = 255  # characters of a status or name kept; longer is not the API's
_MAX_SIZE = 1 << 20  # GB: far above any disk, below anything absurd


def volumes_from(body: bytes) -> list[Volume]:
    """The disks of a listing's 200 body; a ``MalformedResponseError`` for anything else."""
    data = loads(body)
    items = data.get("volumes") if type(data) is dict else None
    if type(items) is not list:
        raise MalformedResponseError("not a disk listing (no 'volumes' list)", body=body)
    try:
        return [_volume(item) for item in items]
    except (TypeError, ValueError) as exc:
        raise MalformedResponseError(f"not a disk listing ({exc})", body=body) from None


def _volume(item: Any) -> Volume:
    if type(item) is not dict:
        raise TypeError(f"a disk is a JSON object, not {type(item).__name__}")
    volume_id = item.get("id")
    if type(volume_id) is not str or not _ID.fullmatch(volume_id):
        raise ValueError("a disk without a valid 'id'")
    status = _text(item.get("status"), "status")
    if status is None:
        raise ValueError(f"disk {volume_id} has no 'status'")
    size = item.get("size")
    if size is not None and (type(size) is not int or not 0 <= size <= _MAX_SIZE):
        raise ValueError(f"disk {volume_id} has a 'size' that is not a size in GB")
    attachments = item.get("attachments")
    attachments = [] if attachments is None else attachments
    if type(attachments) is not list:
        raise TypeError(f"disk {volume_id} has 'attachments' that are not a list")
    servers = []
    for attachment in attachments:
        server = attachment.get("server_id") if type(attachment) is dict else None
        servers.append(_text(server, "server_id") or "")
    return Volume(
        volume_id,
        status,
        size,
        _text(item.get("name"), "name"),
        tuple(server for server in servers if server),
    )


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if type(value) is not str or len(value) > _MAX_TEXT:
        raise ValueError(f"'{what}' is not a short string")
    return value
