from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.core.management import call_command

from campaigns.models import ShareReward
from rewards.mirror import backfill, multipliers, schema, write
from rewards.mirror.built import marker_key, previous_marker_key
from rewards.mirror.check import check_mirror
from rewards.mirror.topology import slot_ranges, slot_tag
from rewards.tasks import repair_mirror_task
from social.models import XConnection
from tests.rewards.mirror_helpers import dump, is_built


@pytest.fixture
def mirrored(mirror_server, many_rewards, owner, connection_factory):
    """Rows and scored connections, mirrored (wherever this test's mirror lives) and
    in sync."""
    rows = many_rewards(4, 5)
    connection = connection_factory(owner)
    XConnection.objects.filter(pk=connection.pk).update(x_score=37)
    backfill.sync_all_share_rewards()
    multipliers.sync_user_multipliers([owner.pk])
    return rows


def first(rows: list[ShareReward], status: str) -> ShareReward:
    return next(row for row in rows if row.status == status)


def item(reward: ShareReward) -> str:
    return f"{reward.user_id}:{reward.campaign_id}:{reward.campaign_tweet_id}"


def entry_json(entry_id: str) -> str:
    return json.dumps({"id": entry_id, "type": "x_share"}, separators=(",", ":"))


def hash_key(reward: ShareReward) -> str:
    return schema.share_reward_key(*schema.reward_ref(reward))


# Each drift is made by hand: (kind it must be reported as, how to make it).
DRIFTS: dict[str, tuple[str, Callable]] = {
    "missing hash": (
        "missing_hash",
        lambda r, rows, owner: r.delete(hash_key(first(rows, "verified"))),
    ),
    "stale hash": (
        "stale_hash",
        lambda r, rows, owner: r.hset(
            hash_key(first(rows, "verified")), "status", "pending"
        ),
    ),
    "orphaned hash": (
        "orphaned_hash",
        lambda r, rows, owner: r.hset(
            schema.share_reward_key(999999, 888888, 777777), "status", "pending"
        ),
    ),
    "by_user member missing": (
        "by_user",
        lambda r, rows, owner: r.zrem(
            schema.by_user_key(rows[0].user_id), item(rows[0])
        ),
    ),
    "by_user member without row": (
        "by_user",
        lambda r, rows, owner: r.zadd(
            schema.by_user_key(rows[0].user_id),
            {f"{rows[0].user_id}:777777:666666": 1},
        ),
    ),
    "by_campaign wrong score": (
        "by_campaign",
        lambda r, rows, owner: r.zadd(
            schema.by_campaign_key(rows[0].campaign_id), {item(rows[0]): 5}
        ),
    ),
    "feed entry missing": (
        "activity_feed",
        lambda r, rows, owner: r.delete(
            schema.activity_feed_key(first(rows, "rewarded").user_id)
        ),
    ),
    "feed entry stale": (
        "activity_feed",
        lambda r, rows, owner: r.zadd(
            schema.activity_feed_key(first(rows, "verified").user_id),
            {schema.feed_entry(first(rows, "verified")): 1},
        ),
    ),
    "feed of a user without rows": (
        "activity_feed",
        lambda r, rows, owner: r.zadd(
            schema.activity_feed_key(999999), {entry_json("x_share:5:6"): 1}
        ),
    ),
    "by_campaign member under another campaign": (
        "by_campaign",
        lambda r, rows, owner: r.zadd(
            schema.by_campaign_key(888888), {item(rows[0]): 1}
        ),
    ),
    # What the previous (user, campaign) layout left: counted, and removed by the
    # repair.
    "previous layout's hash": (
        "previous_layout",
        lambda r, rows, owner: r.hset(
            schema.previous_share_reward_key(rows[0].user_id, rows[0].campaign_id),
            mapping={"status": "rewarded", "bux_rewarded": "10.00"},
        ),
    ),
    "previous layout's by_user member": (
        "previous_layout",
        lambda r, rows, owner: r.zadd(
            schema.by_user_key(rows[0].user_id),
            {schema.previous_member(rows[0].user_id, rows[0].campaign_id): 1},
        ),
    ),
    "previous layout's by_campaign member": (
        "previous_layout",
        lambda r, rows, owner: r.zadd(
            schema.by_campaign_key(rows[0].campaign_id),
            {schema.previous_member(rows[0].user_id, rows[0].campaign_id): 1},
        ),
    ),
    "previous layout's feed entry": (
        "previous_layout",
        lambda r, rows, owner: r.zadd(
            schema.activity_feed_key(rows[0].user_id),
            {entry_json(schema.previous_feed_entry_id(rows[0].campaign_id)): 1},
        ),
    ),
    "previous layout's keys of a user without rows": (
        "previous_layout",
        lambda r, rows, owner: (
            r.hset(schema.previous_share_reward_key(999999, 5), "status", "pending"),
            r.zadd(schema.by_user_key(999999), {"999999:5": 1}),
            r.zadd(schema.activity_feed_key(999999), {entry_json("x_share:5"): 1}),
        ),
    ),
    "totals wrong": (
        "totals",
        lambda r, rows, owner: r.hincrby(
            schema.user_totals_key(first(rows, "rewarded").user_id), "rewarded", 1
        ),
    ),
    "totals missing": (
        "totals",
        lambda r, rows, owner: r.delete(schema.user_totals_key(rows[0].user_id)),
    ),
    "totals of a user without rows": (
        "totals",
        lambda r, rows, owner: r.hset(
            schema.user_totals_key(999999), "rewarded", "15000"
        ),
    ),
    "multiplier wrong": (
        "multiplier",
        lambda r, rows, owner: r.hset(
            schema.user_multipliers_key(owner.pk), "x_multiplier", "99"
        ),
    ),
    "multiplier missing": (
        "multiplier",
        lambda r, rows, owner: r.delete(schema.user_multipliers_key(owner.pk)),
    ),
    "multiplier without a score": (
        "multiplier",
        lambda r, rows, owner: r.hset(
            schema.user_multipliers_key(rows[0].user_id), "x_multiplier", "12"
        ),
    ),
}


def test_an_in_sync_mirror_reports_no_drift(mirrored, capsys):
    call_command("check_mirror")

    out = capsys.readouterr().out
    assert "Checked 20 share rewards and 1 multipliers." in out
    assert out.strip().endswith("In sync.")


@pytest.mark.parametrize("drift", DRIFTS, ids=list(DRIFTS))
def test_each_drift_is_found_and_repaired(drift, mirrored, owner, redis, capsys):
    in_sync = dump(redis)
    kind, make = DRIFTS[drift]
    make(redis, mirrored, owner)

    with pytest.raises(SystemExit) as exited:
        call_command("check_mirror")
    assert exited.value.code == 1
    report = check_mirror()
    assert report.drift[kind] >= 1
    assert "Run `check_mirror --repair`" in capsys.readouterr().out

    call_command("check_mirror", "--repair")

    assert "Repaired" in capsys.readouterr().out
    assert dump(redis) == in_sync
    assert check_mirror().in_sync


def test_a_foreign_feed_entry_is_kept(mirrored, redis):
    """Entries of other reward kinds are not the share mirror's to judge."""
    key = schema.activity_feed_key(mirrored[0].user_id)
    redis.zadd(key, {'{"id":"post_read:4","type":"post_read"}': 3})

    assert check_mirror(repair=True).in_sync
    assert redis.zscore(key, '{"id":"post_read:4","type":"post_read"}') == 3


def test_the_report_names_examples(mirrored, redis):
    verified = first(mirrored, "verified")
    redis.hset(hash_key(verified), "bux_rewarded", "1.00")

    lines = "\n".join(check_mirror().lines())

    assert f"share_reward:{item(verified)} (bux_rewarded)" in lines
    assert "stale hashes" in lines


def test_an_outage_heals_with_the_periodic_repair(
    owned_persistent_redis, mirrored, redis
):
    """Redis comes back with what it held: the write it missed is mended."""
    verified = first(mirrored, "verified")
    with owned_persistent_redis.down():
        ShareReward.objects.filter(pk=verified.pk).update(status="failed")
        assert not write.sync_share_reward(*schema.reward_ref(verified))

    summary = repair_mirror_task()

    assert summary["stale_hash"] == 1 and summary["repaired_rewards"] >= 1
    assert redis.hget(hash_key(verified), "status") == "failed"
    assert check_mirror().in_sync


def test_check_mirror_streams_in_batches(
    mirrored, redis, django_assert_max_num_queries
):
    redis.delete(hash_key(mirrored[0]))
    with django_assert_max_num_queries(40):
        report = check_mirror(repair=True, batch_size=3)
    assert report.rows_checked == 20 and report.repaired_rewards == 1


@pytest.mark.parametrize("drift", ["missing", "stale"])
def test_one_of_a_readers_two_tweets_drifting_is_reported_alone_and_mended(
    drift, mirror_server, owner, campaign_factory, reward_factory, redis, capsys
):
    campaign = campaign_factory(tweets=2)
    first_tweet, second_tweet = campaign.tweets.all()
    kept = reward_factory(owner, campaign, campaign_tweet=first_tweet, rewarded=True)
    drifted = reward_factory(
        owner, campaign, campaign_tweet=second_tweet, verified=True
    )
    backfill.sync_all_share_rewards()
    in_sync = dump(redis)
    assert check_mirror().in_sync
    if drift == "missing":
        redis.delete(hash_key(drifted))
    else:
        redis.hset(hash_key(drifted), "status", "pending")

    report = check_mirror()

    kind = f"{drift}_hash"
    assert report.drift_found == 1 and report.drift[kind] == 1
    [example] = report.examples[kind]
    assert example.startswith(f"share_reward:{item(drifted)}")
    assert item(drifted) != item(kept)

    call_command("check_mirror", "--repair")

    assert "Repaired 1 share rewards" in capsys.readouterr().out
    assert dump(redis) == in_sync
    assert check_mirror().in_sync


def test_the_repair_moves_a_reader_off_the_previous_layout(
    mirrored, redis, settings, capsys
):
    """What a reader's mirror looked like before campaigns had several tweets: a
    hash, index members and a feed entry per (user, campaign), and the totals
    counted from those hashes, beside one new-layout write. The repair leaves
    exactly the new layout, totals from the rows, and marks the mirror built."""
    in_sync = dump(redis)
    reward = first(mirrored, "rewarded")
    user, campaign = reward.user_id, reward.campaign_id
    old_item = schema.previous_member(user, campaign)
    redis.hset(
        schema.previous_share_reward_key(user, campaign),
        mapping={"status": "rewarded", "bux_rewarded": str(reward.bux_rewarded)},
    )
    redis.zadd(schema.by_user_key(user), {old_item: 1})
    redis.zadd(schema.by_campaign_key(campaign), {old_item: 1})
    redis.zadd(
        schema.activity_feed_key(user),
        {entry_json(schema.previous_feed_entry_id(campaign)): 1},
    )
    redis.hincrby(
        schema.user_totals_key(user), "rewarded", schema.bux_units(reward.bux_rewarded)
    )
    # The previous layout's built markers, and none of today's.
    previous_markers = [
        f"{settings.REDIS_KEY_PREFIX}mirror:built:{{{slot_tag(slots.start)}}}"
        for slots in slot_ranges(redis)
    ]
    assert previous_markers == [previous_marker_key(s) for s in slot_ranges(redis)]
    for slots, old_marker in zip(slot_ranges(redis), previous_markers, strict=True):
        redis.delete(marker_key(slots))
        redis.set(old_marker, "run-id")
    assert not is_built(redis)

    report = check_mirror()
    # Hash, two members, the feed entry, and each marker; the totals counted the
    # old hash.
    assert report.drift["previous_layout"] == 4 + len(previous_markers)
    assert report.drift["totals"] == 1
    assert report.drift_found == report.drift["previous_layout"] + 1

    call_command("check_mirror", "--repair")

    out = capsys.readouterr().out
    assert "Removed what the previous (user, campaign) layout left: " in out
    assert dump(redis) == in_sync
    assert not any(redis.exists(key) for key in previous_markers)
    assert is_built(redis)
    assert check_mirror().in_sync
