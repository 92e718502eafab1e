"""Where the mirror's keys live. The keys are the same on a single server and on a
Redis Cluster (schema.py's hash tags put a user's keys in one slot and a campaign's
in another); what differs is how much one atomic step may touch: a MULTI/EXEC or a
script touches one hash slot on a cluster, anything on a single server. Every bulk
and transactional write groups its commands by that unit, so one code path serves
both: on a single server there is one unit, on a cluster one per slot.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from redis.client import Pipeline
from redis.cluster import ClusterPipeline, RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from blockster.redis_client import MirrorClient

Pipe = Pipeline | ClusterPipeline
T = TypeVar("T")

# The name of a single server's one "node" in the maps below.
SERVER = "server"


def unit_of(client: MirrorClient, key: str) -> int:
    """The atomic unit `key` belongs to: its hash slot on a cluster, 0 on a single
    server."""
    if isinstance(client, RedisCluster):
        return int(client.keyslot(key))
    return 0


def group_by_unit(
    client: MirrorClient, items: Iterable[T], key: Callable[[T], str]
) -> dict[int, list[T]]:
    """`items` grouped by the unit of their key, in first-seen order."""
    groups: dict[int, list[T]] = {}
    for item in items:
        groups.setdefault(unit_of(client, key(item)), []).append(item)
    return groups


@dataclass(frozen=True)
class SlotRange:
    """Contiguous slots served by one primary (`node`: its host:port)."""

    start: int
    end: int
    node: str


_ranges: dict[int, tuple[object, list[SlotRange]]] = {}


def slot_ranges(client: MirrorClient) -> list[SlotRange]:
    """The primaries' contiguous slot ranges, in slot order: one range covering every
    slot on a single server. Read from the cluster client's slot map (kept current
    by redis-py through failovers and resharding)."""
    if not isinstance(client, RedisCluster):
        return [SlotRange(0, REDIS_CLUSTER_HASH_SLOTS - 1, SERVER)]
    slots = client.nodes_manager.slots_cache
    cached = _ranges.get(id(client))
    if cached is not None and cached[0] is slots:
        return cached[1]
    ranges: list[SlotRange] = []
    for slot in range(REDIS_CLUSTER_HASH_SLOTS):
        nodes = slots.get(slot)
        node = nodes[0].name if nodes else ""
        if ranges and ranges[-1].node == node and ranges[-1].end == slot - 1:
            ranges[-1] = SlotRange(ranges[-1].start, slot, node)
        else:
            ranges.append(SlotRange(slot, slot, node))
    _ranges[id(client)] = (slots, ranges)
    return ranges


def range_of(client: MirrorClient, key: str) -> SlotRange:
    """The slot range (of one primary) that holds `key`."""
    ranges = slot_ranges(client)
    slot = key_slot(key.encode())
    return ranges[bisect.bisect_right([r.start for r in ranges], slot) - 1]


@cache
def slot_tag(slot: int) -> str:
    """A hash tag (without braces) whose key lands in `slot`: `{slot}-{n}` for the
    first n that does. About 16,000 tries, once per slot and process."""
    n = 0
    while key_slot(f"{slot}-{n}".encode()) != slot:
        n += 1
    return f"{slot}-{n}"


def run_ids(client: MirrorClient) -> dict[str, str]:
    """Each primary's run id, by node: new whenever that server starts, so a node
    that restarted (empty) or a replica promoted in its place shows as a change."""
    if not isinstance(client, RedisCluster):
        return {SERVER: str(client.info("server")["run_id"])}
    return {
        node.name: str(client.get_redis_connection(node).info("server")["run_id"])
        for node in client.get_primaries()
    }
