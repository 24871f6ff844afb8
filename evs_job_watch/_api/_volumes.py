"""The disk listing: ids checked, split into requests of 60, the answers decoded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import quote

from yarl import URL

from .._models import Volume
from .._validate import check_id
from .._wire._volumes import MAX_IDS, volumes_from

__all__ = ["read_volumes"]


async def read_volumes(
    read: Callable[[URL], Awaitable[bytes]], base: str, volume_ids: Iterable[str]
) -> list[Volume]:
    """Every disk of ``volume_ids`` the API knows, read by ``read`` (one GET: the 200 body)
    in listings of up to 60 ids; ``base`` is ``{endpoint}/v2/{project_id}``.

    Every id is checked before any request (``ValueError``); a bare string is refused
    (``TypeError``); ids given twice are read once.
    """
    if isinstance(volume_ids, (str, bytes)):
        raise TypeError("volume_ids must be an iterable of disk ids, not a single string")
    ids = list(dict.fromkeys(check_id(one, "volume id") for one in volume_ids))
    found: list[Volume] = []
    for start in range(0, len(ids), MAX_IDS):
        batch = ids[start : start + MAX_IDS]
        # The API's own form, ids=['a','b'], percent-encoded: the ids are safe characters.
        query = quote("[" + ",".join(f"'{one}'" for one in batch) + "]", safe="")
        url = URL(f"{base}/os-vendor-volumes/detail?ids={query}", encoded=True)
        found.extend(volumes_from(await read(url)))
    return found
