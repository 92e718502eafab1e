"""The reader's totals (`user_totals:{user_id}`): moved by the live write path, the
backfill and the repair with the reward's own keys, read by the member page and the
header, and summed in PostgreSQL while Redis is down."""

from __future__ import annotations

import re
from decimal import Decimal

from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from campaigns import services
from campaigns.models import ShareReward
from rewards.mirror import backfill, schema, write
from rewards.mirror.check import check_mirror
from rewards.selectors import database_totals, member_totals
from rewards.services import mark_rewarded

TX = "0x" + "ab" * 32


def stored_totals(redis, user_id: int) -> dict[str, Decimal]:
    return schema.decode_totals(redis.hgetall(schema.user_totals_key(user_id)))


def test_the_live_path_moves_the_totals_with_each_transition(
    owner,
    connection_factory,
    campaign_factory,
    redis,
    django_capture_on_commit_callbacks,
):
    connection = connection_factory(owner)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.create_pending_reward(
            owner, campaign_factory(), connection, amount=Decimal("150")
        )
        services.create_pending_reward(
            owner, campaign_factory(), connection, amount=Decimal("7.25")
        )
    assert redis.hgetall(schema.user_totals_key(owner.pk)) == {"pending": "15725"}

    with django_capture_on_commit_callbacks(execute=True):
        first = services.verify_share_reward(
            first, retweet_id=first.campaign_tweet.tweet_id, liked=False
        )
    assert redis.hgetall(schema.user_totals_key(owner.pk)) == {
        "pending": "725",
        "verified": "15000",
    }

    with django_capture_on_commit_callbacks(execute=True):
        assert mark_rewarded(first, tx_hash=TX)
    # A status whose sum is back to zero has no field.
    assert redis.hgetall(schema.user_totals_key(owner.pk)) == {
        "pending": "725",
        "rewarded": "15000",
    }
    assert stored_totals(redis, owner.pk) == database_totals(owner.pk)

    ShareReward.objects.filter(pk=first.pk).delete()
    write.sync_share_reward(*schema.reward_ref(first))
    assert redis.hgetall(schema.user_totals_key(owner.pk)) == {"pending": "725"}


def test_the_backfill_writes_each_users_totals_as_postgresql_sums_them(
    many_rewards, redis
):
    rows = many_rewards(5, 9)
    ShareReward.objects.filter(pk=rows[0].pk).update(bux_rewarded=Decimal("0.05"))
    ShareReward.objects.filter(pk=rows[1].pk).update(bux_rewarded=Decimal("12.50"))
    users = {row.user_id for row in rows}

    backfill.sync_all_share_rewards(batch_size=7)

    for user_id in users:
        assert stored_totals(redis, user_id) == database_totals(user_id)
    assert stored_totals(redis, rows[0].user_id)["pending"] % 1 == Decimal("0.05")

    # Over the mirror of older rows: the totals move by what changed.
    ShareReward.objects.filter(status="verified").update(
        status="rewarded",
        tx_hash=Concat(Value("0xfeed"), Cast("id", CharField())),
        rewarded_at=timezone.now(),
    )
    ShareReward.objects.filter(status="pending").update(bux_rewarded=Decimal("1.10"))
    backfill.sync_all_share_rewards(batch_size=4)

    for user_id in users:
        assert stored_totals(redis, user_id) == database_totals(user_id)
    assert check_mirror().drift["totals"] == 0


def test_the_repair_sets_the_totals_with_the_users_rewards(many_rewards, redis):
    rows = many_rewards(3, 4)
    backfill.sync_all_share_rewards()
    user_id = rows[0].user_id
    expected = redis.hgetall(schema.user_totals_key(user_id))
    # A pair's hash and the totals both wrong: the repair rewrites the user whole,
    # so the pair's rewrite does not move the totals a second time.
    redis.hset(schema.share_reward_key(*schema.reward_ref(rows[0])), "status", "failed")
    redis.hincrby(schema.user_totals_key(user_id), "rewarded", 99)

    report = check_mirror(repair=True)

    assert report.drift["totals"] == 1 and report.repaired_totals == 1
    assert redis.hgetall(schema.user_totals_key(user_id)) == expected
    assert check_mirror().in_sync


def amounts(page: str) -> dict[str, str]:
    return dict(
        re.findall(r'data-total="(\w+)"><dt>[^<]+</dt><dd>(?:<strong>)?([\d,.]+)', page)
    )


def test_the_member_page_shows_the_same_totals_from_postgresql_while_redis_is_down(
    owned_redis, client, owner, reward_factory
):
    reward_factory(owner, rewarded=True, bux_rewarded=Decimal("150"))
    reward_factory(owner, rewarded=True, bux_rewarded=Decimal("7.50"))
    reward_factory(owner, verified=True, bux_rewarded=Decimal("40"))
    reward_factory(owner, awaiting_wallet=True, bux_rewarded=Decimal("10"))
    reward_factory(owner, status="shared", bux_rewarded=Decimal("5"))
    reward_factory(
        owner, status="undone", tx_hash="0x" + "cd" * 32, bux_rewarded=Decimal("30")
    )
    reward_factory(owner, status="failed", bux_rewarded=Decimal("1000"))
    backfill.sync_all_share_rewards()
    client.force_login(owner)

    from_redis = client.get(f"/members/{owner.pk}")
    with owned_redis.down():
        from_postgresql = client.get(f"/members/{owner.pk}")

    assert not from_redis.context["totals"].from_database
    assert from_postgresql.context["totals"].from_database
    shown = amounts(from_redis.content.decode())
    assert shown == {"minted": "157.50", "on_the_way": "55", "undone": "30"}
    assert amounts(from_postgresql.content.decode()) == shown
    for page in (from_redis, from_postgresql):
        assert 'data-minted-bux="157.50"' in page.content.decode()


def test_member_totals_group_the_statuses_a_reader_sees(owner, reward_factory):
    reward_factory(owner, rewarded=True, bux_rewarded=Decimal("3"))
    reward_factory(owner, status="pending", bux_rewarded=Decimal("4"))
    backfill.sync_all_share_rewards()

    totals = member_totals(owner.pk)

    assert (totals.minted, totals.on_the_way, totals.undone) == (
        Decimal("3.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    )
