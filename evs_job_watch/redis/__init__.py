"""The watch set shared by the replicas of a service, in Redis (the ``redis`` extra).

``RedisStore`` is a store for ``JobWatcher(client, store=...)``: the replicas share one
watch set, each watch polled by one replica under a lease, each event delivered once
across the fleet (at least once when a replica dies), waiters resolved on any replica,
one rate limit for the account; on one server or a Redis Cluster, through TLS
(``rediss://``) or with a password. ``RedisServer`` starts a private redis-server for
tests and the demo (``find_redis_server`` finds its binary), ``RedisClusterServer`` a
private cluster of them for tests. See ``docs/stores.md``.
"""

from ._cluster import RedisClusterServer
from ._server import RedisServer, find_redis_server
from ._store import RedisStore

__all__ = ["RedisClusterServer", "RedisServer", "RedisStore", "find_redis_server"]
