"""The mirror on a Redis Cluster whose primary dies: its replica takes over, the
writes made meanwhile that did not reach Redis are mended by the repair, and the
check ends clean on every node."""

from __future__ import annotations

from campaigns.models import ShareReward
from rewards.mirror import backfill, schema, write
from rewards.mirror.check import check_mirror
from rewards.mirror.topology import range_of
from tests.mirror_servers import mark_mirror_built
from tests.rewards.mirror_helpers import is_built


def test_a_primary_killed_under_writes_fails_over_and_the_repair_mends_the_mirror(
    owned_redis_cluster, many_rewards
):
    from blockster.redis_client import get_mirror_redis

    cluster = owned_redis_cluster
    client = get_mirror_redis()
    mark_mirror_built()
    rows = many_rewards(12, 3)
    assert backfill.sync_all_share_rewards()["errors"] == 0
    assert check_mirror().in_sync

    primary = cluster.primary_with_replica()
    on_it = [
        row
        for row in rows
        if range_of(client, schema.user_tag(row.user_id)).node.endswith(
            f":{primary.port}"
        )
    ]
    assert on_it, "some users' keys live on the primary that is killed"
    primary.kill()

    # Rows change while the primary is down and its replica not yet promoted: the
    # live writes to its slots fail (counted, not raised) or land after the
    # failover; either way the mirror may miss them.
    changed: list[ShareReward] = []
    for row in rows:
        new_status = "failed" if row.status != "failed" else "pending"
        ShareReward.objects.filter(pk=row.pk).update(status=new_status)
        write.sync_share_reward(*schema.reward_ref(row))
        changed.append(row)
    # The killed primary's replica serves its slots now.
    cluster.wait_failed_over(timeout=60)
    assert cluster.served_by_live_primaries()

    check_mirror(repair=True)

    report = check_mirror()
    assert report.in_sync, report.lines()
    for row in changed:
        stored = client.hget(schema.share_reward_key(*schema.reward_ref(row)), "status")
        row.refresh_from_db()
        assert stored == row.status
    # Every slot range is marked built again, the promoted replica's included.
    assert is_built(client)
