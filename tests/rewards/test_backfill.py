from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from campaigns.models import ShareReward
from rewards.mirror import backfill, schema, write
from tests.rewards.mirror_helpers import dump, prefixed_keys, unix


def expected_hash(reward: ShareReward) -> dict[str, str]:
    fields = {
        "id": str(reward.pk),
        "user_id": str(reward.user_id),
        "campaign_id": str(reward.campaign_id),
        "campaign_tweet_id": str(reward.campaign_tweet_id),
        "status": reward.status,
        "bux_rewarded": str(reward.bux_rewarded),
        "created_at": unix(reward.created_at),
        "updated_at": unix(reward.updated_at),
    }
    optional = {
        "retweet_id": reward.retweet_id or None,
        "failure_reason": reward.failure_reason or None,
        "tx_hash": reward.tx_hash,
        "verified_at": reward.verified_at and unix(reward.verified_at),
        "rewarded_at": reward.rewarded_at and unix(reward.rewarded_at),
    }
    return fields | {name: value for name, value in optional.items() if value}


def test_backfill_from_empty_redis_matches_postgresql_key_by_key(many_rewards, redis):
    many_rewards(40, 50)
    result = backfill.sync_all_share_rewards(batch_size=300)

    assert result == {"total": 2000, "success": 2000, "errors": 0, "multipliers": 0}
    rows = list(ShareReward.objects.all())
    for reward in rows:
        key = schema.share_reward_key(*schema.reward_ref(reward))
        assert redis.hgetall(key) == expected_hash(reward)
    rewarded = [r for r in rows if r.status == "rewarded"]
    for reward in rewarded[:50]:
        [entry] = [
            json.loads(raw)
            for raw in redis.zrange(schema.activity_feed_key(reward.user_id), 0, -1)
            if json.loads(raw)["tx_hash"] == reward.tx_hash
        ]
        assert entry["retweet_id"] == reward.retweet_id
    assert redis.zcard(schema.by_user_key(rows[0].user_id)) == 50
    assert redis.zcard(schema.by_campaign_key(rows[0].campaign_id)) == 40


def test_re_running_the_backfill_changes_nothing(many_rewards, redis):
    many_rewards(10, 12)
    first = backfill.sync_all_share_rewards(batch_size=25)
    before = dump(redis)

    assert backfill.sync_all_share_rewards(batch_size=7) == first
    assert dump(redis) == before


def test_the_backfill_replaces_stale_entries(many_rewards, redis):
    [reward, *_] = [r for r in many_rewards(2, 4) if r.status == "rewarded"]
    backfill.sync_all_share_rewards()
    ShareReward.objects.filter(pk=reward.pk).update(status="failed", tx_hash=None)

    backfill.sync_all_share_rewards()

    key = schema.share_reward_key(*schema.reward_ref(reward))
    assert redis.hget(key, "status") == "failed"
    feed = redis.zrange(schema.activity_feed_key(reward.user_id), 0, -1)
    assert reward.tx_hash not in "".join(feed)


@pytest.mark.parametrize("users", [3, 30])
def test_backfill_queries_do_not_grow_with_rows(
    users, many_rewards, django_assert_num_queries
):
    many_rewards(users, 10)
    # One count for the progress bar, one streamed SELECT (its batches are fetched
    # from the server-side cursor, not re-queried), one streamed SELECT of the X
    # scores (these readers have none, so no batch of them is re-read).
    with django_assert_num_queries(3):
        result = backfill.sync_all_share_rewards(batch_size=20)
    assert result["total"] == users * 10


def test_the_command_prints_progress_and_the_summary(many_rewards, capsys):
    many_rewards(5, 6)
    call_command("sync_share_rewards_to_redis", "--batch-size", "10")

    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-1] == "total=30 success=30 errors=0"
    assert "30/30" in err and "rows/s" in err and "ETA" in err


def test_prune_removes_entries_whose_rows_are_gone(many_rewards, redis, capsys):
    rows = many_rewards(3, 4)
    backfill.sync_all_share_rewards()
    gone = next(r for r in rows if r.status == "rewarded")
    ShareReward.objects.filter(pk=gone.pk).delete()
    item = f"{gone.user_id}:{gone.campaign_id}:{gone.campaign_tweet_id}"
    key = schema.share_reward_key(*schema.reward_ref(gone))

    call_command("sync_share_rewards_to_redis")
    assert redis.exists(key), "without --prune orphans stay"

    call_command("sync_share_rewards_to_redis", "--prune")

    assert capsys.readouterr().out.strip().endswith("total=11 success=11 errors=0")
    assert not redis.exists(key)
    assert redis.zscore(schema.by_user_key(gone.user_id), item) is None
    assert redis.zscore(schema.by_campaign_key(gone.campaign_id), item) is None
    feed = redis.zrange(schema.activity_feed_key(gone.user_id), 0, -1)
    assert gone.tx_hash not in "".join(feed)
    assert redis.exists(schema.share_reward_key(*schema.reward_ref(rows[0])))


def test_the_backfill_leaves_what_the_live_path_leaves_key_by_key(
    many_rewards, reward_factory, campaign_factory, owner, connection_factory, redis
):
    rows = many_rewards(6, 8)
    connection = connection_factory(owner)
    rows.append(reward_factory(owner, rewarded=True, x_connection=connection))
    # One reader, two tweets of one campaign, in different states: rewarded (with
    # a feed entry) and verified (without one).
    campaign = campaign_factory(tweets=2)
    first_tweet, second_tweet = campaign.tweets.all()
    minted, queued = (
        reward_factory(
            owner, campaign, campaign_tweet=tweet, x_connection=connection, **state
        )
        for tweet, state in (
            (first_tweet, {"rewarded": True}),
            (second_tweet, {"verified": True}),
        )
    )
    rows += [minted, queued]
    refs = [schema.reward_ref(r) for r in rows]
    minted_key, queued_key = (
        schema.share_reward_key(*schema.reward_ref(r)) for r in (minted, queued)
    )

    def empty() -> None:
        if keys := prefixed_keys(redis):
            redis.delete(*keys)

    def live() -> dict[str, object]:
        empty()
        write.sync_share_rewards(refs)
        return dump(redis)

    def statuses(state: dict[str, Any]) -> list[str]:
        return [state[key]["status"] for key in (minted_key, queued_key)]

    def campaign_entries(state: dict[str, Any]) -> list[str]:
        feed = state[schema.activity_feed_key(owner.pk)]
        ids = [json.loads(raw)["id"] for raw, _ in feed]
        return sorted(i for i in ids if i.startswith(f"x_share:{campaign.pk}:"))

    def backfilled(*, from_empty: bool) -> dict[str, object]:
        if from_empty:
            empty()
        backfill.sync_all_share_rewards(batch_size=7)
        return dump(redis)

    state = backfilled(from_empty=True)
    assert state == live()
    assert statuses(state) == ["rewarded", "verified"]
    assert campaign_entries(state) == [f"x_share:{campaign.pk}:{first_tweet.pk}"]
    # Over a mirror of older rows: statuses, transactions and reasons changed; the
    # campaign's first tweet's reward leaves the feed, its second's enters it.
    corrected = next(r for r in rows if r.status == "rewarded")
    ShareReward.objects.filter(status="rewarded").exclude(pk=corrected.pk).update(
        status="failed", tx_hash=None, failure_reason="Refused"
    )
    ShareReward.objects.filter(status="verified").update(
        status="rewarded",
        tx_hash=Concat(Value("0xfeed"), Cast("id", CharField())),
        rewarded_at=timezone.now(),
    )
    ShareReward.objects.filter(pk=corrected.pk).update(tx_hash="0x" + "cd" * 32)
    state = backfilled(from_empty=False)
    assert state == live()
    assert statuses(state) == ["failed", "rewarded"]
    assert campaign_entries(state) == [f"x_share:{campaign.pk}:{second_tweet.pk}"]
