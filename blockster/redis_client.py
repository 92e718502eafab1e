"""Redis clients, one connection pool per URL: `get_redis()` for the cache, sessions,
X rate limits, health checks and the broker's server (REDIS_URL); `get_mirror_redis()`
for the mirror's writes, backfill and check (MIRROR_REDIS_URL, a single server or a
Redis Cluster); `get_mirror_reader()` for the member page's reads (a replica when
MIRROR_REDIS_REPLICA_URL is set)."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings
from redis.cluster import LoadBalancingStrategy, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

# What a Redis call can raise when a server (or a cluster node) cannot answer:
# redis-py's cluster client raises some of these outside RedisError (a slot with no
# reachable node during a failover, a cluster it cannot reach at all).
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)

MirrorClient = redis.Redis | RedisCluster


@cache
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        decode_responses=True,
        health_check_interval=30,
    )


@cache
def _cluster(url: str, timeout: float, *, replica_reads: bool) -> RedisCluster:
    # Built once per process: the client learns the slot map from the node at `url`
    # and follows it through failovers and resharding (MOVED, ASK).
    return RedisCluster.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        decode_responses=True,
        load_balancing_strategy=(
            LoadBalancingStrategy.ROUND_ROBIN_REPLICAS if replica_reads else None
        ),
    )


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL, settings.REDIS_SOCKET_TIMEOUT)


def _mirror(url: str, *, replica_reads: bool = False) -> MirrorClient:
    timeout = settings.REDIS_SOCKET_TIMEOUT
    if settings.MIRROR_REDIS_CLUSTER:
        return _cluster(url, timeout, replica_reads=replica_reads)
    return _client(url, timeout)


def get_mirror_redis() -> MirrorClient:
    """The mirror's primary: every write, the backfill and the check."""
    return _mirror(settings.MIRROR_REDIS_URL)


def get_mirror_reader() -> MirrorClient:
    """Where the member page reads the mirror: a replica when one is configured (on a
    cluster, the replicas of each slot, the primary where a slot has none), else the
    primary. Never written to: a replica refuses writes."""
    if not settings.MIRROR_REDIS_REPLICA_URL:
        return get_mirror_redis()
    return _mirror(settings.MIRROR_REDIS_REPLICA_URL, replica_reads=True)
