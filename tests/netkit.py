"""Real network parts for the tests, all on 127.0.0.1: a CONNECT proxy, a TCP relay that
can hold back and cut what it relays, a closed port, and certificates from a test CA."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import trustme

__all__ = ["PROXY_VARIABLES", "Relay", "TestCA", "TunnelProxy", "closed_port"]

# The variables that name a proxy, or hosts reached without one.
PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestCA:
    """A CA made for the test, and a server certificate for 127.0.0.1 and localhost."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, tmp_path: Path) -> None:
        self.ca = trustme.CA()
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost", "evs.eu-de.otc.t-systems.com").configure_cert(
            self.server
        )
        self.bundle = tmp_path / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.bundle))

    def client(self) -> ssl.SSLContext:
        """A verifying client context that trusts this CA."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


S = TypeVar("S", bound="_Server")


class _Server:
    """A server on a free port of 127.0.0.1 whose connections are served by tasks
    (``_serve``, each added to ``_pipes``), all ended on exit."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def _closing(self) -> None:
        """Called as the server closes, before its tasks are cancelled."""

    async def __aenter__(self: S) -> S:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self._closing()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()


class TunnelProxy(_Server):
    """An HTTP proxy that only tunnels (``CONNECT host:port``), as HTTPS proxies do.

    It records each tunnel asked for in ``tunnels`` and each request head in ``heads``.
    With ``to`` set, every tunnel goes there whatever was asked (so a test can use a
    real host name without resolving it); with ``refuse`` set, it answers that status.
    """

    def __init__(self, *, to: tuple[str, int] | None = None, refuse: int | None = None) -> None:
        super().__init__()
        self.to = to
        self.refuse = refuse
        self.tunnels: list[str] = []
        self.heads: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.tunnels.append(target)
            if self.refuse is not None:
                writer.write(f"HTTP/1.1 {self.refuse} No\r\nContent-Length: 0\r\n\r\n".encode())
                return
            host, _, port = target.rpartition(":")
            upstream_reader, upstream_writer = await asyncio.open_connection(
                *(self.to or (host, int(port)))
            )
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError, ValueError):
            pass
        finally:
            writer.close()
            self._pipes.discard(task)


class Relay(_Server):
    """A TCP relay from a port on 127.0.0.1 to ``to``.

    ``hold()`` keeps back what the server sends (the client reads nothing more, as on a
    stalled link); ``hold(sends=True)`` keeps back what the client sends too (nothing
    reaches the server); ``flow()`` passes on what was held back, in order, and flows
    again, as a link that recovers does; ``cut()`` closes every connection, dropping what
    was held back, as a dropped link does. New connections are relayed again at once.
    """

    def __init__(self, to: tuple[str, int]) -> None:
        super().__init__()
        self.to = to
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._sending = asyncio.Event()  # what the client sends: held by hold(sends=True)
        self._sending.set()
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    def _closing(self) -> None:
        self.cut()

    def hold(self, *, sends: bool = False) -> None:
        self._flowing.clear()
        if sends:
            self._sending.clear()

    def flow(self) -> None:
        self._flowing.set()
        self._sending.set()

    def cut(self) -> None:
        for client, server in list(self._links):
            for writer in (client, server):
                with contextlib.suppress(OSError, RuntimeError):
                    writer.close()
        self._links.clear()
        # What was held back is dropped with its links (their pipes wake and see them
        # gone); new links flow.
        held, self._flowing = self._flowing, asyncio.Event()
        self._flowing.set()
        held.set()
        self._sending.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.to)
            link = (writer, upstream_writer)
            self._links.add(link)
            await asyncio.gather(
                self._relay(reader, upstream_writer, link, lambda: self._sending),
                self._relay(upstream_reader, writer, link, lambda: self._flowing),
            )
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._pipes.discard(task)

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        gate: Callable[[], asyncio.Event],
    ) -> None:
        """One direction of ``link``: each chunk waits for ``gate()`` (what the client
        sends: ``_sending``; what the server answers: ``_flowing``)."""
        try:
            while data := await reader.read(65536):
                await gate().wait()
                if link not in self._links:
                    return  # cut while held: the data is lost
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()
