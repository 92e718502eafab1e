"""Campaigns with several tweets: a reader earns once per tweet, holds one place for
all of them, and shares them one by one from the box."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import CampaignTweet, ShareCampaign, ShareReward
from campaigns.services import (
    create_share_campaign,
    set_campaign_active,
    share_to_x,
)
from campaigns.services.campaigns import places_taken
from campaigns.services.tweets import mark_tweet_deleted
from campaigns.views import CHOOSE_A_TWEET
from tests.factories import RewardFactory

pytestmark = pytest.mark.usefixtures("fast_retries")

HTMX = {"HTTP_HX_REQUEST": "true"}


def tweet_item(html: str, tweet: CampaignTweet) -> str:
    """The box's entry for one of the campaign's tweets."""
    return html.split(f'id="campaign-tweet-{tweet.pk}"')[1].split("</li>")[0]


def share(client, campaign, tweet=None):
    data = {} if tweet is None else {"tweet": str(tweet.pk)}
    return client.post(f"/campaigns/{campaign.pk}/share", data, **HTMX)


def test_a_reader_earns_for_each_tweet_of_a_campaign_once(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory(tweets=2, bux_reward=Decimal("3"))
    first, second = campaign.tweets.all()
    connect_x(reader, score=10)

    assert share_to_x(reader, campaign, tweet=first).ok
    assert share_to_x(reader, campaign, tweet=second).ok
    again = share_to_x(reader, campaign, tweet=second)

    assert not again.ok and again.message == "You've already shared this article!"
    rewards = ShareReward.objects.filter(user=reader).order_by("pk")
    assert [(r.campaign_tweet_id, r.retweet_id, r.bux_rewarded) for r in rewards] == [
        (first.pk, first.tweet_id, Decimal("30")),
        (second.pk, second.tweet_id, Decimal("30")),
    ]
    assert sorted(r["tweet_id"] for r in sandbox.retweets()) == sorted(
        [first.tweet_id, second.tweet_id]
    )
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 2


def test_the_database_refuses_a_second_reward_for_one_reader_and_tweet(
    reader, campaign_factory
):
    campaign = campaign_factory(tweets=2)
    first, second = campaign.tweets.all()
    RewardFactory(user=reader, campaign=campaign, campaign_tweet=first)
    # Another tweet of the same campaign is another reward.
    RewardFactory(user=reader, campaign=campaign, campaign_tweet=second)

    with pytest.raises(IntegrityError), transaction.atomic():
        ShareReward.objects.create(
            user=reader, campaign=campaign, campaign_tweet=first, bux_rewarded=1
        )
    assert ShareReward.objects.filter(user=reader).count() == 2


def test_a_reader_takes_one_place_whatever_number_of_tweets_they_share(
    reader, user_factory, sandbox_campaign_factory, connect_x
):
    campaign = sandbox_campaign_factory(tweets=3, max_participants=1)
    first, second, third = campaign.tweets.all()
    latecomer = user_factory()
    connect_x(reader, score=10)
    connect_x(latecomer, score=10)

    assert share_to_x(reader, campaign, tweet=first).ok
    refused = share_to_x(latecomer, campaign, tweet=second)
    # The place holder shares the others although the campaign is full.
    assert share_to_x(reader, campaign, tweet=second).ok
    assert share_to_x(reader, campaign, tweet=third).ok

    assert refused.message == (
        "This campaign has reached its maximum number of participants."
    )
    assert places_taken(campaign) == 1
    assert ShareReward.objects.filter(campaign=campaign).count() == 3
    assert not ShareReward.objects.filter(user=latecomer).exists()
    assert (
        ShareCampaign.objects.with_status().get(pk=campaign.pk).campaign_status
        == "full"
    )


def test_a_tweet_earns_once_across_campaigns_of_several_tweets(
    reader, sandbox_campaign_factory, connect_x
):
    older = sandbox_campaign_factory(tweets=2)
    shared = older.tweets.all()[1]
    connect_x(reader, score=10)
    assert share_to_x(reader, older, tweet=shared).ok
    set_campaign_active(older, active=False)
    newer = sandbox_campaign_factory(tweet_urls=[shared.tweet_url], post__title="Newer")

    again = share_to_x(reader, newer)

    assert not again.ok
    assert again.message == (
        f"You've already shared this tweet from “{older.post.title}”: a tweet earns "
        "BUX once."
    )


def test_the_box_lists_the_tweets_and_shares_them_one_by_one(
    client, reader, sandbox_campaign_factory, connect_x, page_text
):
    campaign = sandbox_campaign_factory(tweets=2, bux_reward=Decimal("2"))
    first, second = campaign.tweets.all()
    connect_x(reader, score=25)
    client.force_login(reader)

    page = client.get(campaign.post.get_absolute_url()).content.decode()
    assert page.count('name="tweet"') == 2
    assert f'id="campaign-tweet-{first.pk}"' in page
    assert f'id="campaign-tweet-{second.pk}"' in page

    box = share(client, campaign, first)

    assert box.status_code == 200
    html = box.content.decode()
    assert "You earned" in tweet_item(html, first)
    assert 'name="tweet"' not in tweet_item(html, first)
    assert f'value="{second.pk}"' in tweet_item(html, second)
    assert "earn 50 BUX" in page_text(box)

    share(client, campaign, second)
    html = client.get(f"/campaigns/{campaign.pk}/box").content.decode()
    assert 'name="tweet"' not in html
    assert ShareReward.objects.filter(user=reader).count() == 2


def test_a_share_naming_no_tweet_or_another_campaigns_is_refused(
    client, reader, campaign_factory, connect_x, page_text
):
    campaign = campaign_factory(tweets=2)
    other = campaign_factory()
    connect_x(reader, score=10)
    client.force_login(reader)

    for response in (
        share(client, campaign),
        share(client, campaign, other.first_tweet),
    ):
        assert response.status_code == 400
        assert CHOOSE_A_TWEET in page_text(response)
    assert not ShareReward.objects.exists()


def test_a_tweet_is_in_one_active_campaign_whoever_switches_it_on(
    campaign_factory, post_factory
):
    running = campaign_factory(tweets=2)
    waiting = create_share_campaign(
        post_factory(),
        tweet_urls=[running.tweets.all()[1].tweet_url],
        is_active=False,
    )

    # The copy of `is_active` on the tweets follows the campaign in the database.
    ShareCampaign.objects.filter(pk=running.pk).update(is_active=False)
    assert set(
        CampaignTweet.objects.filter(campaign=running).values_list(
            "campaign_is_active", flat=True
        )
    ) == {False}
    set_campaign_active(waiting, active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ShareCampaign.objects.filter(pk=running.pk).update(is_active=True)
    with pytest.raises(ValidationError) as refused:
        set_campaign_active(running, active=True)

    assert f"(campaign {waiting.pk})" in refused.value.messages[0]
    assert not ShareCampaign.objects.get(pk=running.pk).is_active


@pytest.mark.django_db(transaction=True)
def test_a_tweet_staff_took_out_while_the_reader_pressed_is_refused_in_words(
    reader, sandbox_campaign_factory, connect_x
):
    campaign = sandbox_campaign_factory(tweets=2)
    first, removed = campaign.tweets.all()
    connect_x(reader, score=10)
    # The reader's page named the tweet; staff take it out before the press lands.
    CampaignTweet.objects.filter(pk=removed.pk).delete()

    refused = share_to_x(reader, campaign, tweet=removed)

    assert (refused.ok, refused.message) == (
        False,
        "This post is no longer part of the campaign.",
    )
    assert not ShareReward.objects.exists()
    assert share_to_x(reader, campaign, tweet=first).ok


def test_the_box_of_several_tweets_says_where_the_campaign_stands(
    client, reader, campaign_factory, connect_x, page_text
):
    soon = campaign_factory(tweets=2, bux_reward=Decimal("3"))
    ShareCampaign.objects.filter(pk=soon.pk).update(
        starts_at=datetime(2031, 12, 2, 14, 0, tzinfo=UTC)
    )
    over = campaign_factory(tweets=2)
    ShareCampaign.objects.filter(pk=over.pk).update(
        starts_at=timezone.now() - timedelta(days=2),
        ends_at=timezone.now() - timedelta(days=1),
    )
    running = campaign_factory(tweets=2)
    gone = running.tweets.all()[1]
    mark_tweet_deleted(gone)

    def box(campaign) -> str:
        return page_text(client.get(f"/campaigns/{campaign.pk}/box"))

    # Signed out: the campaign asks once, not once per tweet.
    assert box(running).count("Sign in to earn BUX") == 1
    connect_x(reader, score=20)
    client.force_login(reader)
    assert "Opens Tue 2 Dec, 14:00 UTC" in box(soon)
    assert "+60 BUX for you for each post, when it opens" in box(soon)
    assert "This campaign has ended" in box(over)
    html = client.get(f"/campaigns/{running.pk}/box").content.decode()
    assert 'data-state="tweet-deleted"' in tweet_item(html, gone)
    assert 'name="tweet"' not in tweet_item(html, gone)
    assert 'name="tweet"' in tweet_item(html, running.first_tweet)
