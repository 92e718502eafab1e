"""The soak's invariants (bench/soak/checks.py) on multi-tweet campaigns: a reward
per reader and tweet, places counted by reader, X's records read per tweet."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F

from accounts.models import User
from bench.soak.checks import (
    Invariant,
    check_invariants,
    readers_sharing_several_tweets_of_full_campaigns,
)
from campaigns.models import CampaignTweet, ShareCampaign, ShareReward
from tests.factories import (
    CampaignFactory,
    ConnectionFactory,
    RewardFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PLACES = "no campaign over max_participants (distinct readers)"
ONE_PER_PAIR = "at most one reward per (user, campaign tweet)"
TOTAL_SHARES = "total_shares = verified + rewarded + undone"
RETWEETED = "each verified/rewarded share retweeted at X"


class World:
    """Rewarded shares with the records X and the minter would hold for them."""

    def __init__(self) -> None:
        self.retweets: list[dict[str, Any]] = []
        self.mints: list[dict[str, Any]] = []
        self.posts = iterate_post_ids()

    def reader(self, number: int) -> User:
        user = UserFactory.create(wallet_address=f"0x{number:040x}")
        ConnectionFactory.create(user=user)
        return user

    def rewarded(
        self, user: User, campaign: ShareCampaign, tweet: CampaignTweet
    ) -> ShareReward:
        reward = RewardFactory.create(
            user=user,
            campaign=campaign,
            campaign_tweet=tweet,
            x_connection=user.x_connection,
            status=ShareReward.Status.REWARDED,
            retweet_post_id=next(self.posts),
            bux_rewarded=Decimal("10"),
        )
        # What the confirmation counts when it verifies a share.
        ShareCampaign.objects.filter(pk=campaign.pk).update(
            total_shares=F("total_shares") + 1
        )
        self.retweets.append(
            {
                "user_id": user.x_connection.x_user_id,
                "tweet_id": tweet.tweet_id,
                "retweet_id": reward.retweet_post_id,
            }
        )
        self.mints.append(
            {
                "idempotencyKey": f"share-reward-{reward.pk}",
                "transactionHash": reward.tx_hash,
                "amount": "10",
                "walletAddress": user.wallet_address,
            }
        )
        return reward

    def check(self) -> dict[str, Invariant]:
        invariants = check_invariants(
            mints=self.mints,
            retweets=self.retweets,
            undone_retweets=[],
            removed_retweets=[],
            sweep_period=5.0,
            mirror_in_sync=True,
            mirror_detail="in sync",
        )
        return {invariant.name: invariant for invariant in invariants}


def iterate_post_ids() -> Iterator[str]:
    number = 1_870_000_000_000_000_000
    while True:
        number += 1
        yield str(number)


def test_a_reader_sharing_two_tweets_of_a_full_campaign_takes_one_place() -> None:
    world = World()
    campaign = CampaignFactory.create(tweets=2, max_participants=2)
    first, second = campaign.tweets.all()
    holder, other = world.reader(1), world.reader(2)
    world.rewarded(holder, campaign, first)
    world.rewarded(other, campaign, first)
    # The campaign is full; the holder of a place shares its other tweet.
    world.rewarded(holder, campaign, second)

    invariants = world.check()

    assert {name: i.violations for name, i in invariants.items() if i.violations} == {}
    assert invariants[PLACES].checked == 1
    # Three shares by two readers: total_shares counts shares.
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 3
    assert invariants[ONE_PER_PAIR].checked == 3
    assert readers_sharing_several_tweets_of_full_campaigns() == {campaign.pk: 1}


def test_places_are_counted_by_reader() -> None:
    world = World()
    campaign = CampaignFactory.create(tweets=2, max_participants=1)
    first, second = campaign.tweets.all()
    holder, intruder = world.reader(1), world.reader(2)
    world.rewarded(holder, campaign, first)
    world.rewarded(holder, campaign, second)
    world.rewarded(intruder, campaign, second)

    places = world.check()[PLACES]

    assert places.violations == 1
    assert places.examples == [f"campaign {campaign.pk}: 2 readers hold places, max 1"]


def test_x_records_are_read_for_each_rewards_tweet() -> None:
    world = World()
    campaign = CampaignFactory.create(tweets=2)
    first, second = campaign.tweets.all()
    reader = world.reader(1)
    world.rewarded(reader, campaign, first)
    on_second = world.rewarded(reader, campaign, second)
    # The reader's retweet of the second tweet is not at X.
    world.retweets = [rt for rt in world.retweets if rt["tweet_id"] == first.tweet_id]

    retweeted = world.check()[RETWEETED]

    assert retweeted.violations == 1
    assert retweeted.examples == [
        f"reward {on_second.pk}: no retweet by X user {reader.x_connection.x_user_id}"
    ]


def test_total_shares_counts_each_tweets_share() -> None:
    world = World()
    campaign = CampaignFactory.create(tweets=3)
    reader = world.reader(1)
    for tweet in campaign.tweets.all():
        world.rewarded(reader, campaign, tweet)
    # Counted once per reader instead of once per share.
    ShareCampaign.objects.filter(pk=campaign.pk).update(total_shares=1)

    total = world.check()[TOTAL_SHARES]

    assert total.violations == 1
    assert total.examples == [
        f"campaign {campaign.pk}: total_shares 1, 3 verified/rewarded/undone"
    ]
