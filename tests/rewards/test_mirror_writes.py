from __future__ import annotations

import json
from decimal import Decimal

from django.core.management import call_command

from campaigns import services
from campaigns.models import ShareReward
from rewards.mirror import multipliers, schema, write
from rewards.mirror.check import check_mirror
from rewards.services import mark_failed, mark_rewarded
from social.services import disconnect_x_account
from tests.rewards.mirror_helpers import prefixed_keys, unix

TX = "0x" + "ab" * 32


def item(reward: ShareReward) -> str:
    return f"{reward.user_id}:{reward.campaign_id}:{reward.campaign_tweet_id}"


def feed(redis, user_id: int) -> list[tuple[dict, float]]:
    entries = redis.zrange(schema.activity_feed_key(user_id), 0, -1, withscores=True)
    return [(json.loads(raw), score) for raw, score in entries]


def stored_status(redis, reward: ShareReward) -> str | None:
    return redis.hget(schema.share_reward_key(*schema.reward_ref(reward)), "status")


def test_each_service_transition_mirrors_the_row_after_commit(
    owner,
    connection_factory,
    campaign_factory,
    redis,
    django_capture_on_commit_callbacks,
):
    user, connection = owner, connection_factory(owner)
    campaign = campaign_factory(tweets=2)
    tweet = campaign.tweets.all()[1]

    with django_capture_on_commit_callbacks(execute=False) as pending_callbacks:
        reward = services.create_pending_reward(
            user, campaign, connection, amount=Decimal("150"), tweet=tweet
        )
        # Nothing reaches Redis before the transaction commits.
        assert not redis.exists(schema.share_reward_key(user.pk, campaign.pk, tweet.pk))
    for callback in pending_callbacks:
        callback()
    key = schema.share_reward_key(user.pk, campaign.pk, tweet.pk)
    assert key.endswith(f"share_reward:{{user:{user.pk}}}:{campaign.pk}:{tweet.pk}")
    assert redis.hgetall(key) == {
        "id": str(reward.pk),
        "user_id": str(user.pk),
        "campaign_id": str(campaign.pk),
        "campaign_tweet_id": str(tweet.pk),
        "x_connection_id": str(connection.pk),
        "status": "pending",
        "bux_rewarded": "150.00",
        "created_at": unix(reward.created_at),
        "updated_at": unix(reward.updated_at),
    }
    created = reward.created_at.timestamp()
    assert item(reward) == f"{user.pk}:{campaign.pk}:{tweet.pk}"
    assert redis.zscore(schema.by_user_key(user.pk), item(reward)) == created
    assert redis.zscore(schema.by_campaign_key(campaign.pk), item(reward)) == created

    with django_capture_on_commit_callbacks(execute=True):
        reward = services.verify_share_reward(
            reward, retweet_id=tweet.tweet_id, liked=True
        )
    stored = redis.hgetall(key)
    assert stored["status"] == "verified"
    assert stored["retweet_id"] == tweet.tweet_id
    assert stored["verified_at"] == unix(reward.verified_at)
    assert "rewarded_at" not in stored and "tx_hash" not in stored
    assert feed(redis, user.pk) == []

    with django_capture_on_commit_callbacks(execute=True):
        assert mark_rewarded(reward, tx_hash=TX)
    reward.refresh_from_db()
    stored = redis.hgetall(key)
    assert stored["status"] == "rewarded"
    assert stored["tx_hash"] == TX
    assert stored["rewarded_at"] == unix(reward.rewarded_at)
    assert reward.rewarded_at is not None
    rewarded = reward.rewarded_at.timestamp()
    [(entry, score)] = feed(redis, user.pk)
    assert score == rewarded
    assert entry["id"] == f"x_share:{campaign.pk}:{tweet.pk}"
    assert entry["type"] == "x_share" and entry["amount"] == "150.00"
    assert entry["retweet_id"] == tweet.tweet_id and entry["tx_hash"] == TX


def test_mark_failed_mirrors_the_reason_and_status(
    owner, reward_factory, redis, django_capture_on_commit_callbacks
):
    reward = reward_factory(owner, verified=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert mark_failed(reward, "Wallet blocked")

    stored = redis.hgetall(schema.share_reward_key(*schema.reward_ref(reward)))
    assert stored["status"] == "failed"
    assert stored["failure_reason"] == "Wallet blocked"
    assert feed(redis, owner.pk) == []


def test_a_deleted_reward_leaves_nothing_behind(
    owner,
    connection_factory,
    campaign_factory,
    redis,
    django_capture_on_commit_callbacks,
):
    user, connection = owner, connection_factory(owner)
    with django_capture_on_commit_callbacks(execute=True):
        reward = services.create_pending_reward(
            user, campaign_factory(), connection, amount=Decimal("50")
        )
    assert prefixed_keys(redis)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.delete_share_reward(reward)

    assert prefixed_keys(redis) == set()


def test_a_reward_leaving_the_rewarded_state_leaves_the_feed(
    owner, reward_factory, redis
):
    kept = reward_factory(owner, rewarded=True)
    reward = reward_factory(owner, rewarded=True)
    write.sync_share_reward(*schema.reward_ref(kept))
    write.sync_share_reward(*schema.reward_ref(reward))
    assert len(feed(redis, owner.pk)) == 2

    # A corrected transaction replaces the entry instead of adding a second one.
    ShareReward.objects.filter(pk=reward.pk).update(tx_hash="0x" + "cd" * 32)
    write.sync_share_reward(*schema.reward_ref(reward))
    hashes = sorted(entry["tx_hash"] for entry, _ in feed(redis, owner.pk))
    assert hashes == sorted([kept.tx_hash, "0x" + "cd" * 32])

    ShareReward.objects.filter(pk=reward.pk).update(status="verified", tx_hash=None)
    write.sync_share_reward(*schema.reward_ref(reward))
    assert [entry["tx_hash"] for entry, _ in feed(redis, owner.pk)] == [kept.tx_hash]

    ShareReward.objects.filter(pk=kept.pk).delete()
    write.sync_share_reward(*schema.reward_ref(kept))
    assert feed(redis, owner.pk) == []
    assert not redis.exists(schema.share_reward_key(*schema.reward_ref(kept)))


def test_a_readers_rewards_for_two_tweets_of_a_campaign_have_keys_of_their_own(
    owner, campaign_factory, reward_factory, redis
):
    campaign = campaign_factory(tweets=2)
    first_tweet, second_tweet = campaign.tweets.all()
    first = reward_factory(owner, campaign, campaign_tweet=first_tweet, rewarded=True)
    second = reward_factory(owner, campaign, campaign_tweet=second_tweet, verified=True)
    write.sync_share_rewards([schema.reward_ref(first), schema.reward_ref(second)])

    assert stored_status(redis, first) == "rewarded"
    assert stored_status(redis, second) == "verified"
    by_user = redis.zrange(schema.by_user_key(owner.pk), 0, -1)
    assert sorted(by_user) == sorted([item(first), item(second)])
    by_campaign = redis.zrange(schema.by_campaign_key(campaign.pk), 0, -1)
    assert sorted(by_campaign) == sorted(by_user)
    assert [e["id"] for e, _ in feed(redis, owner.pk)] == [
        f"x_share:{campaign.pk}:{first_tweet.pk}"
    ]

    # Minting the second tweet's reward adds its entry beside the first's.
    ShareReward.objects.filter(pk=second.pk).update(
        status="rewarded", tx_hash="0x" + "ef" * 32, rewarded_at=second.verified_at
    )
    write.sync_share_reward(*schema.reward_ref(second))
    assert sorted(e["id"] for e, _ in feed(redis, owner.pk)) == sorted(
        [
            f"x_share:{campaign.pk}:{first_tweet.pk}",
            f"x_share:{campaign.pk}:{second_tweet.pk}",
        ]
    )

    # Removing one leaves the other's keys alone.
    ShareReward.objects.filter(pk=first.pk).delete()
    write.sync_share_reward(*schema.reward_ref(first))
    assert not redis.exists(schema.share_reward_key(*schema.reward_ref(first)))
    assert stored_status(redis, second) == "rewarded"
    assert redis.zrange(schema.by_user_key(owner.pk), 0, -1) == [item(second)]
    assert [e["id"] for e, _ in feed(redis, owner.pk)] == [
        f"x_share:{campaign.pk}:{second_tweet.pk}"
    ]
    totals = redis.hgetall(schema.user_totals_key(owner.pk))
    assert totals == {"rewarded": str(schema.bux_units(second.bux_rewarded))}


def test_a_feed_entrys_prefix_never_matches_another_tweets_entries(owner, redis):
    """`x_share:1:2` is not a prefix of `x_share:1:23`'s entries: the prefix ends
    with the id's closing quote and comma."""
    key = schema.activity_feed_key(owner.pk)
    other = json.dumps({"id": "x_share:1:23", "type": "x_share"}, separators=(",", ":"))
    mine = json.dumps({"id": "x_share:1:2", "type": "x_share"}, separators=(",", ":"))
    redis.zadd(key, {other: 1, mine: 2})
    assert (
        schema.feed_entry_prefix(schema.feed_entry_id(1, 2)) == '{"id":"x_share:1:2",'
    )

    with redis.pipeline(transaction=True) as pipe:
        write._replace_feed_entry(pipe, owner.pk, schema.feed_entry_id(1, 2), "", 0)
        pipe.execute()

    assert redis.zrange(key, 0, -1) == [other]
    assert schema.feed_entry_tweet(other) == (1, 23)
    assert schema.previous_feed_entry_campaign(other) is None


def test_a_save_outside_the_services_is_mended_by_the_periodic_repair(
    owner, campaign_factory, redis, django_capture_on_commit_callbacks, capsys
):
    """Only the services mirror a reward (no hidden receiver): a raw save, such as
    one made in the shell, reaches Redis through the repair beat runs."""
    campaign = campaign_factory()
    with django_capture_on_commit_callbacks(execute=True):
        reward = ShareReward.objects.create(
            user=owner,
            campaign=campaign,
            campaign_tweet=campaign.first_tweet,
            bux_rewarded=Decimal("5"),
        )
        reward.failure_reason = "edited in the shell"
        reward.save()
        ShareReward.objects.filter(pk=reward.pk).update(status="failed")
    key = schema.share_reward_key(*schema.reward_ref(reward))
    assert not redis.exists(key)

    call_command("check_mirror", "--repair")

    stored = redis.hgetall(key)
    assert stored["failure_reason"] == "edited in the shell"
    assert stored["status"] == "failed"
    assert "Repaired 1 share rewards" in capsys.readouterr().out
    assert check_mirror().in_sync


def test_a_redis_outage_never_fails_the_share_and_repair_mends_it(
    owned_redis,
    owner,
    connection_factory,
    campaign_factory,
    redis,
    django_capture_on_commit_callbacks,
):
    user, connection = owner, connection_factory(owner)
    campaign = campaign_factory()
    failures = write.write_failures
    with owned_redis.down(), django_capture_on_commit_callbacks(execute=True):
        reward = services.create_pending_reward(
            user, campaign, connection, amount=Decimal("50")
        )

    assert ShareReward.objects.filter(pk=reward.pk, status="pending").exists()
    # The create's one sync failed, and was counted.
    assert write.write_failures == failures + 1
    key = schema.share_reward_key(*schema.reward_ref(reward))
    assert not redis.exists(key)

    report = check_mirror(repair=True)
    assert report.drift["missing_hash"] == 1
    assert report.repaired_rewards == 1
    stored = redis.hgetall(key)
    assert stored["id"] == str(reward.pk) and stored["status"] == "pending"
    assert check_mirror().in_sync


def test_a_concurrent_newer_write_is_never_overwritten_by_an_older_read(
    owner, reward_factory, redis, monkeypatch
):
    """The sync reads the row, then another writer mirrors a newer state before the
    sync's MULTI/EXEC: WATCH makes the sync re-read instead of writing stale data."""
    reward = reward_factory(owner)
    read_rows = write.rows_for_refs
    calls: list[object] = []

    def read_then_race(refs):
        stale = read_rows(refs)
        if not calls:
            ShareReward.objects.filter(pk=reward.pk).update(status="failed")
            with redis.pipeline(transaction=False) as other_writer:
                write.write_reward(other_writer, ShareReward.objects.get(pk=reward.pk))
                other_writer.execute()
        calls.append(refs)
        return stale

    monkeypatch.setattr(write, "rows_for_refs", read_then_race)
    assert write.sync_share_reward(*schema.reward_ref(reward))

    assert len(calls) == 2
    assert stored_status(redis, reward) == "failed"


def test_the_multiplier_follows_the_x_connection(
    owner, connection_factory, redis, django_capture_on_commit_callbacks
):
    from social.models import XConnection

    key = schema.user_multipliers_key(owner.pk)
    with django_capture_on_commit_callbacks(execute=True):
        connection = connection_factory(owner)
        XConnection.objects.filter(pk=connection.pk).update(x_score=42)
        multipliers.sync_user_multipliers([owner.pk])
    redis.hset(key, "read_multiplier", "3")
    assert redis.hget(key, "x_multiplier") == "42"

    with django_capture_on_commit_callbacks(execute=True):
        disconnect_x_account(owner, revoke=False)

    # The score left with the connection; other multipliers stay.
    assert redis.hgetall(key) == {"read_multiplier": "3"}
