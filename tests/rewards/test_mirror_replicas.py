"""MIRROR_REDIS_REPLICA_URL: the member page's reads (feed, totals, multipliers) go to a
replica, of a single server or of each slot of a cluster; writes stay on the
primary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from blockster.redis_client import get_mirror_redis
from devprocs import HOST, NO_PERSISTENCE, RedisServer
from rewards.mirror import backfill, multipliers, schema
from rewards.mirror.read import list_user_share_rewards, read_user_totals
from rewards.mirror.topology import range_of
from social.models import XConnection
from tests.mirror_servers import mark_mirror_built
from tests.rewards.mirror_helpers import at


def reads(server: RedisServer, command: str) -> int:
    """How many times `server` ran `command` (INFO commandstats)."""
    import redis

    stats = redis.Redis(host=HOST, port=server.port).info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def synced(primary: RedisServer) -> None:
    """Wait until the primary's replicas have every write it took (WAIT)."""
    import redis

    redis.Redis(host=HOST, port=primary.port).execute_command("WAIT", 1, 10000)


@pytest.fixture
def single_with_replica(settings, tmp_path: Path) -> Iterator[tuple[RedisServer, ...]]:
    for name in ("primary", "replica"):
        (tmp_path / name).mkdir()
    primary = RedisServer(tmp_path / "primary", name="mirror primary")
    replica = RedisServer(
        tmp_path / "replica",
        options=[*NO_PERSISTENCE, "--replicaof", HOST, str(primary.port)],
        name="mirror replica",
    )
    primary.start()
    replica.start()
    settings.MIRROR_REDIS_URL = primary.url
    settings.MIRROR_REDIS_CLUSTER = False
    settings.MIRROR_REDIS_REPLICA_URL = replica.url
    try:
        yield primary, replica
    finally:
        replica.kill()
        primary.kill()


@pytest.fixture
def rewarded_reader(owner, reward_factory, connection_factory):
    """The owner with two rewarded shares and an X score, mirrored by a backfill."""
    mark_mirror_built()
    for n in (1, 2):
        reward_factory(owner, rewarded=True, rewarded_at=at(60 * n))
    connection = connection_factory(owner)
    XConnection.objects.filter(pk=connection.pk).update(x_score=41)
    assert backfill.sync_all_share_rewards()["errors"] == 0
    return owner


def test_on_a_single_server_the_member_pages_reads_go_to_the_replica(
    single_with_replica, rewarded_reader
):
    primary, replica = single_with_replica
    synced(primary)
    primary_reads = reads(primary, "zrevrange")

    assert len(list_user_share_rewards(rewarded_reader.pk)) == 2
    assert multipliers.get_user_x_multiplier(rewarded_reader.pk) == 41
    assert read_user_totals(rewarded_reader.pk)["rewarded"] > 0

    assert reads(replica, "zrevrange") >= 1 and reads(replica, "hget") >= 1
    assert reads(replica, "hgetall") >= 1
    assert reads(primary, "zrevrange") == primary_reads


def test_on_a_cluster_the_member_pages_reads_go_to_the_replica_of_the_users_slot(
    owned_redis_cluster, settings, rewarded_reader
):
    cluster = owned_redis_cluster
    settings.MIRROR_REDIS_REPLICA_URL = cluster.url
    node = range_of(get_mirror_redis(), schema.user_tag(rewarded_reader.pk)).node
    primary = next(n for n in cluster.nodes if node.endswith(f":{n.port}"))
    replica = cluster.replica_of(primary)
    synced(primary)

    assert len(list_user_share_rewards(rewarded_reader.pk)) == 2
    assert multipliers.get_user_x_multiplier(rewarded_reader.pk) == 41
    assert read_user_totals(rewarded_reader.pk)["rewarded"] > 0

    assert reads(replica, "zrevrange") >= 1 and reads(replica, "hget") >= 1
    assert reads(replica, "hgetall") >= 1
    assert reads(primary, "zrevrange") == 0
