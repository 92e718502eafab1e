"""Migration 0008: every one-tweet campaign becomes a campaign with one tweet, and
every reward, in every state, keeps its row and history and points at that tweet."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("campaigns", "0007_tweet_card")]
AFTER = [("campaigns", "0008_campaign_tweets")]


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True)
def test_campaigns_and_rewards_move_to_one_tweet_each(post_factory, user_factory):
    readers = [user_factory() for _ in range(3)]
    posted = timezone.now() - timedelta(days=2)
    try:
        apps = migrate(BEFORE)
        Campaign = apps.get_model("campaigns", "ShareCampaign")
        Reward = apps.get_model("campaigns", "ShareReward")
        launch = Campaign.objects.create(
            post_id=post_factory().pk,
            tweet_id="1865000000000000111",
            tweet_url="https://x.com/BlocksterCom/status/1865000000000000111",
            tweet_text="We launch BUX today",
            tweet_author_name="Blockster",
            tweet_author_username="BlocksterCom",
            tweet_posted_at=posted,
            total_shares=2,
        )
        ended = Campaign.objects.create(
            post_id=post_factory().pk,
            tweet_id="1865000000000000222",
            tweet_url="https://x.com/BlocksterCom/status/1865000000000000222",
            tweet_deleted_at=posted,
            is_active=False,
        )
        history = {
            Reward.objects.create(
                user_id=readers[0].pk,
                campaign=launch,
                status="rewarded",
                retweet_id=launch.tweet_id,
                bux_rewarded=Decimal("150.50"),
                tx_hash="0x" + "ab" * 32,
                rewarded_at=posted,
            ).pk: ("rewarded", Decimal("150.50")),
            Reward.objects.create(
                user_id=readers[1].pk,
                campaign=launch,
                status="failed",
                failure_reason="Mint failed",
            ).pk: ("failed", None),
            Reward.objects.create(
                user_id=readers[0].pk,
                campaign=ended,
                status="verified",
                bux_rewarded=Decimal("7"),
                needs_operator=True,
            ).pk: ("verified", Decimal("7")),
        }

        apps = migrate(AFTER)

        Campaign = apps.get_model("campaigns", "ShareCampaign")
        Tweet = apps.get_model("campaigns", "CampaignTweet")
        Reward = apps.get_model("campaigns", "ShareReward")
        tweets = {t.campaign_id: t for t in Tweet.objects.all()}
        assert set(tweets) == {launch.pk, ended.pk}
        first = tweets[launch.pk]
        assert (
            first.position,
            first.tweet_id,
            first.tweet_url,
            first.tweet_text,
            first.tweet_author_name,
            first.tweet_author_username,
            first.tweet_posted_at,
            first.tweet_deleted_at,
            first.campaign_is_active,
        ) == (
            0,
            "1865000000000000111",
            "https://x.com/BlocksterCom/status/1865000000000000111",
            "We launch BUX today",
            "Blockster",
            "BlocksterCom",
            posted,
            None,
            True,
        )
        assert tweets[ended.pk].tweet_deleted_at == posted
        assert tweets[ended.pk].campaign_is_active is False
        assert {
            r.pk: (r.status, r.bux_rewarded) for r in Reward.objects.all()
        } == history
        assert {r.pk: r.campaign_tweet.campaign_id for r in Reward.objects.all()} == {
            pk: r.campaign_id for pk, r in Reward.objects.in_bulk().items()
        }
        assert Campaign.objects.get(pk=launch.pk).total_shares == 2
        # One reward per reader and tweet now, enforced as before.
        with pytest.raises(IntegrityError), transaction.atomic():
            Reward.objects.create(
                user_id=readers[0].pk, campaign_id=launch.pk, campaign_tweet=first
            )
        # Another tweet of the campaign takes a reward of its own.
        follow_up = Tweet.objects.create(
            campaign_id=launch.pk,
            position=1,
            tweet_id="1865000000000000333",
            tweet_url="https://x.com/BlocksterCom/status/1865000000000000333",
        )
        Reward.objects.create(
            user_id=readers[0].pk, campaign_id=launch.pk, campaign_tweet=follow_up
        )
        # The new tweet took its campaign's `is_active` from the trigger.
        follow_up.refresh_from_db()
        assert follow_up.campaign_is_active is True
        Reward.objects.filter(campaign_tweet=follow_up).delete()
        follow_up.delete()

        # Going back restores the campaigns' own tweet fields.
        apps = migrate(BEFORE)
        Campaign = apps.get_model("campaigns", "ShareCampaign")
        back = Campaign.objects.get(pk=launch.pk)
        assert (back.tweet_id, back.tweet_text, back.tweet_posted_at) == (
            "1865000000000000111",
            "We launch BUX today",
            posted,
        )
        assert Campaign.objects.get(pk=ended.pk).tweet_deleted_at == posted
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
