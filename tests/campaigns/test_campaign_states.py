"""Every campaign state a reader can meet, shown in the share box, and the home
page's mark on posts whose campaign is open."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import ShareCampaign
from campaigns.services.tweets import mark_tweet_deleted
from rewards.amounts import best_reward

BOX_TRIGGER = re.compile(r'hx-trigger="load delay:(\d+)s"')


def schedule(campaign: ShareCampaign, starts_at: datetime) -> None:
    ShareCampaign.objects.filter(pk=campaign.pk).update(starts_at=starts_at)


def test_a_scheduled_campaign_says_when_it_opens_and_what_the_reader_will_earn(
    client, reader, campaign_factory, connect_x, page_text
):
    campaign = campaign_factory(bux_reward=Decimal("3"))
    schedule(campaign, datetime(2031, 12, 2, 14, 0, tzinfo=UTC))
    connect_x(reader, score=33)
    client.force_login(reader)

    response = client.get(campaign.post.get_absolute_url())

    page = page_text(response)
    assert "Opens Tue 2 Dec, 14:00 UTC" in page
    assert "+99 BUX for you when it opens" in page  # round(33 × 3)
    assert "Retweet & Like ·" not in page and "Share on X" not in page
    assert 'data-state="scheduled"' in response.content.decode()


def test_a_scheduled_campaign_tells_a_visitor_the_base_times_their_score(
    client, campaign_factory, page_text
):
    campaign = campaign_factory(bux_reward=Decimal("3"))
    schedule(campaign, timezone.now() + timedelta(days=1))

    page = page_text(client.get(campaign.post.get_absolute_url()))

    assert "+3 BUX × your X score" in page
    assert "Sign in to earn BUX" not in page  # nothing to do before it opens


def test_the_box_reloads_itself_when_the_campaign_opens(
    client, reader, campaign_factory, connect_x
):
    campaign = campaign_factory()
    opens_at = timezone.now() + timedelta(minutes=30)
    schedule(campaign, opens_at)
    connect_x(reader)
    client.force_login(reader)

    before = client.get(f"/campaigns/{campaign.pk}/box").content.decode()
    (delay,) = BOX_TRIGGER.findall(before)
    # The timer ends at the opening (and never before it).
    assert 30 * 60 - 120 < int(delay) <= 30 * 60 + 1
    assert f'hx-get="/campaigns/{campaign.pk}/box"' in before

    schedule(campaign, timezone.now() - timedelta(seconds=1))  # the time has come
    after = client.get(f"/campaigns/{campaign.pk}/box").content.decode()
    assert "Retweet &amp; Like ·" in after
    assert not BOX_TRIGGER.search(after)


def test_a_campaign_opening_in_days_asks_again_within_hours(client, campaign_factory):
    campaign = campaign_factory()
    schedule(campaign, timezone.now() + timedelta(days=9))

    box = client.get(f"/campaigns/{campaign.pk}/box").content.decode()

    (delay,) = BOX_TRIGGER.findall(box)
    assert int(delay) <= 6 * 3600 + 1


def test_an_ended_campaign_says_so_instead_of_the_plain_link(
    client, campaign_factory, page_text
):
    campaign = campaign_factory()
    ShareCampaign.objects.filter(pk=campaign.pk).update(
        starts_at=timezone.now() - timedelta(days=2),
        ends_at=timezone.now() - timedelta(days=1),
    )

    page = page_text(client.get(campaign.post.get_absolute_url()))

    assert "This campaign has ended" in page
    assert "Share on X" not in page


def test_a_full_campaign_says_all_places_are_taken(
    client, reader, other_user, campaign_factory, reward_factory, connect_x, page_text
):
    campaign = campaign_factory(max_participants=1)
    reward_factory(other_user, campaign=campaign, rewarded=True)
    connect_x(reader)
    client.force_login(reader)

    page = page_text(client.get(campaign.post.get_absolute_url()))

    assert "All places are taken" in page
    assert "Share on X" not in page and "Retweet & Like ·" not in page


def test_home_marks_posts_with_an_open_campaign(
    client, campaign_factory, post_factory, page_text
):
    open_campaign = campaign_factory(bux_reward=Decimal("2.5"))
    scheduled = campaign_factory(bux_reward=Decimal("7"))
    schedule(scheduled, timezone.now() + timedelta(days=1))
    inactive = campaign_factory(bux_reward=Decimal("9"), is_active=False)
    plain = post_factory(title="No campaign here")

    page = page_text(client.get("/"))

    best = best_reward(Decimal("2.5"))
    assert best == Decimal("250")
    badge = f"{open_campaign.post.title} Earn up to {best:,.0f} BUX"
    assert badge in page
    assert page.count("Earn up to") == 1
    for post in (scheduled.post, inactive.post, plain):
        assert post.title in page

    # One query for the campaigns, however many posts the page lists.
    with CaptureQueriesContext(connection) as few:
        client.get("/")
    for _ in range(5):
        campaign_factory()
    with CaptureQueriesContext(connection) as more:
        client.get("/")
    assert len(more) == len(few)


def test_home_counts_each_tweet_still_on_x_in_what_a_post_can_earn(
    client, campaign_factory, page_text
):
    thread = campaign_factory(bux_reward=Decimal("2"), tweets=3)
    mark_tweet_deleted(thread.tweets.all()[2])

    page = page_text(client.get("/"))

    # Two tweets left on X, each paying at most the best X score's reward.
    assert (
        f"{thread.post.title} Earn up to {2 * best_reward(Decimal('2')):,.0f} BUX"
        in page
    )


def test_a_full_campaign_still_offers_its_other_tweets_to_a_reader_holding_a_place(
    client, reader, other_user, campaign_factory, reward_factory, connect_x, page_text
):
    campaign = campaign_factory(max_participants=1, tweets=2)
    first, second = campaign.tweets.all()
    reward_factory(reader, campaign=campaign, campaign_tweet=first, rewarded=True)
    connect_x(reader)
    connect_x(other_user)

    client.force_login(other_user)
    assert "All places are taken" in page_text(
        client.get(campaign.post.get_absolute_url())
    )
    client.force_login(reader)
    page = client.get(campaign.post.get_absolute_url()).content.decode()

    assert "All places are taken" not in page
    item = page.split(f'id="campaign-tweet-{second.pk}"')[1].split("</li>")[0]
    assert f'name="tweet" value="{second.pk}"' in item
    assert (
        "Earned" in page.split(f'id="campaign-tweet-{first.pk}"')[1].split("</li>")[0]
    )
