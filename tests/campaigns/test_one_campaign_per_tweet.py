"""One retweet, one reward: a tweet is in one active campaign at a time, and a reader
earns for a tweet once, whichever campaign they shared it from."""

from __future__ import annotations

import html
import threading
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from campaigns.models import (
    ACTIVE_TWEET_CONSTRAINT,
    CampaignTweet,
    ShareCampaign,
    ShareReward,
)
from campaigns.services import campaigns as services
from campaigns.services import (
    create_share_campaign,
    set_campaign_active,
    share_to_x,
)
from campaigns.services.campaigns import set_campaign_tweets

pytestmark = pytest.mark.usefixtures("fast_retries")


def tweet_in_use(campaign: ShareCampaign) -> str:
    return (
        f"This tweet is already in the active campaign for “{campaign.post.title}” "
        f"(campaign {campaign.pk}). A tweet can be in one active campaign at a time: "
        "deactivate that campaign first, or save this one as inactive."
    )


# --- The rule, in the service and in the database -------------------------------------


def test_a_second_active_campaign_for_a_tweet_is_refused_naming_the_first(
    campaign_factory, post_factory
):
    running = campaign_factory()
    post = post_factory()

    with pytest.raises(ValidationError) as refused:
        create_share_campaign(post, tweet_url=running.first_tweet.tweet_url)

    assert refused.value.messages == [tweet_in_use(running)]
    assert not ShareCampaign.objects.filter(post=post).exists()


def test_a_tweet_is_free_again_once_its_campaign_is_deactivated(campaign_factory):
    first = campaign_factory()
    waiting = campaign_factory(tweet_url=first.first_tweet.tweet_url, is_active=False)

    with pytest.raises(ValidationError) as refused:
        set_campaign_active(waiting, active=True)
    assert refused.value.messages == [tweet_in_use(first)]

    set_campaign_active(first, active=False)
    set_campaign_active(waiting, active=True)

    assert ShareCampaign.objects.get(pk=waiting.pk).is_active is True


def test_the_database_refuses_a_second_active_campaign_for_a_tweet(
    campaign_factory, post_factory
):
    """Inserted straight into the tables, past every form and service check."""
    first = campaign_factory().first_tweet
    tweet = {"tweet_id": first.tweet_id, "tweet_url": first.tweet_url}

    waiting = ShareCampaign.objects.create(post=post_factory(), is_active=False)
    CampaignTweet.objects.create(campaign=waiting, **tweet)
    with (
        pytest.raises(IntegrityError, match=ACTIVE_TWEET_CONSTRAINT),
        transaction.atomic(),
    ):
        other = ShareCampaign.objects.create(post=post_factory())
        CampaignTweet.objects.create(campaign=other, **tweet)
    with (
        pytest.raises(IntegrityError, match=ACTIVE_TWEET_CONSTRAINT),
        transaction.atomic(),
    ):
        ShareCampaign.objects.filter(pk=waiting.pk).update(is_active=True)

    assert CampaignTweet.objects.filter(tweet_id=first.tweet_id).count() == 2


def test_a_tweet_another_campaign_took_is_not_added_to_a_campaign(campaign_factory):
    """set_campaign_tweets relies on the database's rule, and names the campaign
    that has the tweet."""
    running = campaign_factory()
    campaign = campaign_factory(tweets=2)
    before = list(campaign.tweets.values_list("pk", "position", "tweet_id"))
    urls = [tweet.tweet_url for tweet in campaign.tweets.all()]

    with pytest.raises(ValidationError) as refused:
        set_campaign_tweets(campaign, [urls[1], running.first_tweet.tweet_url])

    assert refused.value.messages == [tweet_in_use(running)]
    assert list(campaign.tweets.values_list("pk", "position", "tweet_id")) == before


@pytest.mark.django_db(transaction=True)
def test_a_campaign_that_takes_the_tweet_during_the_save_is_named(post_factory):
    """The service finds the tweet free, then another writer inserts an active
    campaign for it before the save: the database refuses the save, and the error
    names the winner."""
    url = "https://x.com/BlocksterCom/status/1790000000000000002"
    post, rival_post = post_factory(), post_factory()
    real_check = services.active_campaign_for_tweet
    rivals: list[ShareCampaign] = []

    def rival_wins_the_race() -> None:
        try:
            with transaction.atomic():
                rival = ShareCampaign.objects.create(post=rival_post)
                CampaignTweet.objects.create(
                    campaign=rival, tweet_id="1790000000000000002", tweet_url=url
                )
            rivals.append(rival)
        finally:
            connections.close_all()

    def check_then_lose_the_race(tweet_id, *, other_than):
        found = real_check(tweet_id, other_than=other_than)
        if not rivals:
            rival = threading.Thread(target=rival_wins_the_race)
            rival.start()
            rival.join()
        return found

    with (
        mock.patch.object(
            services,
            "active_campaign_for_tweet",
            autospec=True,
            side_effect=check_then_lose_the_race,
        ),
        pytest.raises(ValidationError) as refused,
    ):
        create_share_campaign(post, tweet_url=url)

    assert refused.value.messages == [tweet_in_use(rivals[0])]
    assert not ShareCampaign.objects.filter(post=post).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_the_oldest_active_campaign_of_a_tweet(
    post_factory, capsys
):
    before = [("campaigns", "0002_reward_waiting_for_wallet")]
    after = [("campaigns", "0003_one_active_campaign_per_tweet")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        Campaign = executor.loader.project_state(before).apps.get_model(
            "campaigns", "ShareCampaign"
        )

        def campaign(tweet_id: str, *, is_active: bool = True) -> int:
            return Campaign.objects.create(
                post_id=post_factory().pk,
                tweet_id=tweet_id,
                tweet_url=f"https://x.com/BlocksterCom/status/{tweet_id}",
                is_active=is_active,
            ).pk

        oldest, newer, newest = (campaign("111") for _ in range(3))
        inactive, alone = campaign("111", is_active=False), campaign("222")

        executor = MigrationExecutor(connection)
        executor.migrate(after)

        active = dict(
            executor.loader.project_state(after)
            .apps.get_model("campaigns", "ShareCampaign")
            .objects.values_list("pk", "is_active")
        )
        assert active == {
            oldest: True,
            newer: False,
            newest: False,
            inactive: False,
            alone: True,
        }
        out = capsys.readouterr().out
        for pk in (newer, newest):
            assert (
                f"Deactivated campaign {pk} " in out
                and f"older active campaign {oldest}, which keeps it." in out
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


# --- The share flow: one reward per reader and tweet ----------------------------------


def test_a_reader_paid_for_a_tweet_earns_nothing_from_its_next_campaign(
    reader, user_factory, sandbox_campaign_factory, connect_x, sandbox
):
    """The operator ends a campaign and starts another with the same tweet: readers
    who already shared it are not paid again; the others are."""
    first = sandbox_campaign_factory()
    connect_x(reader)
    assert share_to_x(reader, first).ok
    set_campaign_active(first, active=False)
    second = sandbox_campaign_factory(tweet_url=first.first_tweet.tweet_url)

    again = share_to_x(reader, second)
    newcomer = user_factory()
    connect_x(newcomer)
    fresh = share_to_x(newcomer, second)

    assert (again.ok, again.message) == (
        False,
        f"You've already shared this tweet from “{first.post.title}”: a tweet earns "
        "BUX once.",
    )
    assert fresh.ok
    assert list(
        ShareReward.objects.filter(campaign=second).values_list("user", flat=True)
    ) == [newcomer.pk]
    assert len(sandbox.retweets()) == 2  # the refusal never reached X


@pytest.fixture
def without_the_tweet_rule():
    """The database as it was before the one-active-campaign index (or while a
    deploy runs the new code before migrating)."""
    constraint = next(
        c for c in CampaignTweet._meta.constraints if c.name == ACTIVE_TWEET_CONSTRAINT
    )
    with connection.schema_editor() as editor:
        editor.remove_constraint(CampaignTweet, constraint)
    yield
    # Back as the migration leaves it: the newest duplicates inactive.
    for tweet_id in CampaignTweet.objects.values_list("tweet_id", flat=True):
        same = CampaignTweet.objects.filter(tweet_id=tweet_id).order_by("campaign")
        newer = same.exclude(campaign=same[0].campaign_id).values("campaign")
        ShareCampaign.objects.filter(pk__in=newer).update(is_active=False)
    with connection.schema_editor() as editor:
        editor.add_constraint(CampaignTweet, constraint)


@pytest.mark.django_db(transaction=True)
def test_two_active_campaigns_of_one_tweet_shared_at_once_pay_once(
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    without_the_tweet_rule,
):
    first = sandbox_campaign_factory()
    second = sandbox_campaign_factory(
        tweet_url=first.first_tweet.tweet_url, is_active=False
    )
    ShareCampaign.objects.filter(pk=second.pk).update(is_active=True)
    connect_x(reader)
    barrier = threading.Barrier(2)
    answers: list[str] = []

    def click(campaign: ShareCampaign) -> None:
        client = Client()
        client.force_login(reader)
        barrier.wait()
        try:
            response = client.post(
                f"/campaigns/{campaign.pk}/share", HTTP_HX_REQUEST="true"
            )
            answers.append(html.unescape(response.content.decode()))
        finally:
            connections.close_all()

    tabs = [threading.Thread(target=click, args=(c,)) for c in (first, second)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()

    assert ShareReward.objects.filter(user=reader).count() == 1
    assert sum("You earned" in answer for answer in answers) == 1
    assert sum("a tweet earns BUX once" in answer for answer in answers) == 1
    assert len(sandbox.retweets()) == 1
