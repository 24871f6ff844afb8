"""RedisClusterServer: redis-servers on loopback joined as one Redis Cluster, for tests.

The servers are ``RedisServer`` processes of the same binary in cluster mode
(``--cluster-enabled yes``, each with its own config file in its own folder), joined with
``CLUSTER MEET`` and given equal ranges of the 16384 slots with ``CLUSTER ADDSLOTSRANGE``;
``start`` returns once every server sees the cluster's state as ok. Masters only: no
replicas, no failover.
"""

from __future__ import annotations

import time
from types import TracebackType

import redis

from ._server import RedisServer, free_port

__all__ = ["RedisClusterServer"]

_SLOTS = 16384
_READY_WITHIN = 20.0  # seconds for the servers to agree on the cluster


def _options(bus: int) -> tuple[str, ...]:
    return (
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",  # in the server's own folder
        "--cluster-port", str(bus),
    )  # fmt: skip


class RedisClusterServer:
    """``masters`` redis-servers on 127.0.0.1 as one cluster; ``url`` is the first one's
    (a cluster client learns the others from it). With a ``password``, each server asks
    for it (``url`` does not carry it: the caller adds it)."""

    def __init__(
        self, masters: int = 3, binary: str | None = None, password: str | None = None
    ) -> None:
        if masters < 1:
            raise ValueError(f"masters must be at least 1, not {masters}")
        # Each server's cluster bus port: not port + 10000, which may be taken (or > 65535).
        self._buses = [free_port() for _ in range(masters)]
        self._password = password
        auth = () if password is None else ("--requirepass", password, "--masterauth", password)
        self.servers = [
            RedisServer(binary=binary, options=(*_options(bus), *auth)) for bus in self._buses
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.servers[0].port}"

    def slots(self) -> dict[int, tuple[int, int]]:
        """Each server's port, with the range of slots it serves (first, last)."""
        count = len(self.servers)
        return {
            server.port: (n * _SLOTS // count, (n + 1) * _SLOTS // count - 1)
            for n, server in enumerate(self.servers)
        }

    def start(self) -> None:
        """Start the servers, join them, give out the slots; wait until the state is ok."""
        try:
            for server in self.servers:
                server.start()
            clients = [
                redis.Redis(port=server.port, password=self._password) for server in self.servers
            ]
            ranges = self.slots()
            for server, client in zip(self.servers, clients, strict=True):
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", *ranges[server.port])  # type: ignore[no-untyped-call]
            for other, bus in zip(self.servers[1:], self._buses[1:], strict=True):
                # The first meets each; the others learn of each other by gossip.
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", other.port, bus)  # type: ignore[no-untyped-call]
            self._until_ok(clients)
            for client in clients:
                client.close()
        except BaseException:
            self.stop()
            raise

    def _until_ok(self, clients: list[redis.Redis]) -> None:
        deadline = time.monotonic() + _READY_WITHIN
        while True:
            states = [client.cluster("INFO") for client in clients]
            if all(
                state.get("cluster_state") == "ok"
                and int(state.get("cluster_known_nodes", 0)) == len(clients)
                for state in states
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not come up: {states}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every server (their folders, config files included, go with them)."""
        for server in self.servers:
            server.stop()

    def __enter__(self) -> RedisClusterServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
