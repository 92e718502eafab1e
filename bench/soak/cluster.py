"""The soak with the mirror on a Redis Cluster (`--mirror-cluster`): three primaries
with a replica each, local (devprocs.cluster), while the broker and the cache stay
on the soak's single Redis. During the load a primary is SIGKILLed: its replica
takes over its slots, the writes that hit it meanwhile fail (counted, never raised
to readers) and the repair mends them; the killed node is started again and rejoins
as a replica, so the next kill has a replica to promote."""

from __future__ import annotations

import time
from pathlib import Path

from devprocs.cluster import LocalRedisCluster

MIRROR_PRIMARY_KILLED = "mirror primary SIGKILLed, replica promoted"
# (label, first at, then every) in seconds from the start of the load, as
# faults.INFRA_FAULTS: after the first Redis restart, away from the Redis outage.
CLUSTER_FAULTS = [(MIRROR_PRIMARY_KILLED, 20.0, 60.0)]
FAILOVER_TIMEOUT = 60.0


def start_mirror_cluster(log_dir: Path) -> LocalRedisCluster:
    return LocalRedisCluster(
        log_dir / "mirror-cluster", replicas=1, name="mirror cluster"
    ).start()


def mirror_environment(cluster: LocalRedisCluster) -> dict[str, str]:
    """Settings that put the mirror (only) on the cluster; the member page reads
    from the replicas of each slot."""
    return {
        "MIRROR_REDIS_URL": cluster.url,
        "MIRROR_REDIS_CLUSTER": "1",
        "MIRROR_REDIS_REPLICA_URL": cluster.url,
    }


def kill_a_primary(cluster: LocalRedisCluster) -> float:
    """SIGKILL a primary that has a replica, wait for the failover, start the node
    again (it rejoins as a replica) and wait until the cluster is whole; returns the
    seconds from the kill to a cluster serving every slot again."""
    primary = cluster.primary_with_replica()
    killed_at = time.monotonic()
    primary.kill()
    cluster.wait_failed_over(FAILOVER_TIMEOUT)
    failover = time.monotonic() - killed_at
    primary.start()
    cluster.wait_ok(FAILOVER_TIMEOUT)
    return failover
