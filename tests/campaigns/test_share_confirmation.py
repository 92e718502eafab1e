"""The shared stage: a retweet X accepted is looked for on the reader's timeline
before anything is minted. Each look here is one run of the confirmation service
against the sandbox's X (the worker's retries are in test_confirmation_worker.py)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import ShareCampaign, ShareReward
from campaigns.policy import parse_verify_policy
from campaigns.services import share_to_x
from campaigns.services.confirm import (
    ConfirmResult,
    confirm_share,
    sweep_shared_rewards,
)
from campaigns.services.tweets import mark_tweet_deleted
from rewards.reasons import NOT_SEEN_ON_X, POST_DELETED_ON_X, RECONNECT_TOO_LATE
from social.models import XConnection

pytestmark = pytest.mark.usefixtures("fast_retries", "confirm_shares")

Status = ShareReward.Status
TIMELINE = "GET /2/users/:id/tweets"
HTMX = {"HTTP_HX_REQUEST": "true"}


def looks(reward: ShareReward, count: int) -> list[ConfirmResult]:
    return [confirm_share(reward.pk).result for _ in range(count)]


def shared_reward(reader, campaign) -> ShareReward:
    outcome = share_to_x(reader, campaign)
    assert outcome.ok, outcome.message
    assert outcome.reward is not None
    return outcome.reward


def test_a_share_waits_as_shared_then_a_look_that_sees_it_verifies_it(
    client, reader, sandbox_campaign_factory, connect_x, sandbox, page_text
):
    campaign = sandbox_campaign_factory(bux_reward=Decimal("3"))
    connect_x(reader, score=10)
    client.force_login(reader)

    response = client.post(f"/campaigns/{campaign.pk}/share", **HTMX)

    assert "Retweeted & Liked! Confirming on X…" in page_text(response)
    assert "Checking that your retweet is on X" in page_text(response)
    reward = ShareReward.objects.get(user=reader, campaign=campaign)
    assert reward.status == Status.SHARED
    assert reward.verified_at is None
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 0

    assert looks(reward, 1) == [ConfirmResult.CONFIRMED]

    reward.refresh_from_db()
    (retweet,) = sandbox.retweets()
    assert reward.status == Status.VERIFIED
    assert reward.retweet_post_id == retweet["retweet_id"]
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1
    box = page_text(client.get(f"/campaigns/{campaign.pk}/box"))
    assert "Minting your BUX…" in box


def test_a_retweet_undone_before_confirmation_is_never_minted_and_the_reader_is_told(
    client, reader, sandbox_campaign_factory, connect_x, sandbox, page_text
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = shared_reward(reader, campaign)

    sandbox.undo_retweet("reader", campaign.first_tweet.tweet_id)

    assert looks(reward, 4) == [
        ConfirmResult.LOOK_AGAIN,
        ConfirmResult.LOOK_AGAIN,
        ConfirmResult.NOT_FOUND,
        ConfirmResult.ALREADY_DONE,
    ]
    reward.refresh_from_db()
    assert reward.status == Status.FAILED
    assert reward.failure_reason == NOT_SEEN_ON_X
    assert reward.verified_at is None and reward.tx_hash is None
    assert sandbox.mints() == []
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 0
    client.force_login(reader)
    page = page_text(client.get(campaign.post.get_absolute_url()))
    assert "We could not find your retweet on X. Retweet it again to earn." in page
    assert "Retweet & Like · earn" in page


def test_after_not_found_the_reader_shares_again_on_the_same_row(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory(max_participants=1)
    connect_x(reader, "reader")
    first = shared_reward(reader, campaign)
    sandbox.undo_retweet("reader", campaign.first_tweet.tweet_id)
    looks(first, 3)

    again = shared_reward(reader, campaign)

    assert again.pk == first.pk
    assert again.status == Status.SHARED
    assert looks(again, 1) == [ConfirmResult.CONFIRMED]
    assert ShareReward.objects.get(pk=first.pk).status == Status.VERIFIED
    assert len(sandbox.retweets()) == 1


def test_a_share_confirming_when_its_post_is_deleted_fails_for_that_reason(
    client, reader, other_user, sandbox_campaign_factory, connect_x, sandbox,
    page_text,
):  # fmt: skip
    campaign = sandbox_campaign_factory(max_participants=1)
    connect_x(reader, "reader")
    connect_x(other_user)
    reward = shared_reward(reader, campaign)

    # The author deletes the post: as on X, the reader's retweet goes with it.
    assert sandbox.delete_tweet(campaign.first_tweet.tweet_id) == 1
    before = sandbox.requests(limit=0)["by_route"]

    assert looks(reward, 3) == [
        ConfirmResult.LOOK_AGAIN,
        ConfirmResult.LOOK_AGAIN,
        ConfirmResult.POST_DELETED,
    ]
    reward.refresh_from_db()
    assert reward.status == Status.FAILED
    assert reward.failure_reason == POST_DELETED_ON_X
    assert not reward.can_retry and sandbox.mints() == []
    campaign.first_tweet.refresh_from_db()
    assert campaign.first_tweet.tweet_deleted_at is not None
    # One read of the post with the app's token, before the last look judged.
    after = sandbox.requests(limit=0)["by_route"]
    assert after["GET /2/tweets/:id"]["requests"] == (
        before.get("GET /2/tweets/:id", {}).get("requests", 0) + 1
    )
    client.force_login(reader)
    page = page_text(client.get(campaign.post.get_absolute_url()))
    assert "This post is no longer on X" in page
    assert "Retweet it again" not in page and "Retweet & Like · earn" not in page
    # The place is freed; the campaign refuses new shares of a post that is gone.
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 0
    refused = share_to_x(other_user, campaign)
    assert not refused.ok and refused.message == "This post is no longer on X"


def test_a_share_of_a_post_known_deleted_fails_without_reading_x(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = shared_reward(reader, campaign)
    mark_tweet_deleted(campaign.first_tweet)
    before = sandbox.requests(limit=0)["total_requests"]

    assert looks(reward, 1) == [ConfirmResult.POST_DELETED]

    assert sandbox.requests(limit=0)["total_requests"] == before
    reward.refresh_from_db()
    assert (reward.status, reward.failure_reason) == (Status.FAILED, POST_DELETED_ON_X)


def test_a_failed_share_frees_its_place(
    reader, other_user, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory(max_participants=1)
    connect_x(reader, "reader")
    connect_x(other_user)
    reward = shared_reward(reader, campaign)

    refused = share_to_x(other_user, campaign)
    assert not refused.ok and "maximum number of participants" in refused.message

    sandbox.undo_retweet("reader", campaign.first_tweet.tweet_id)
    looks(reward, 3)

    assert share_to_x(other_user, campaign).ok


def test_a_lagging_timeline_is_looked_at_again(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    sandbox.set_timeline_lag(2)
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    reward = shared_reward(reader, campaign)

    assert looks(reward, 3) == [
        ConfirmResult.LOOK_AGAIN,
        ConfirmResult.LOOK_AGAIN,
        ConfirmResult.CONFIRMED,
    ]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_x_failing_while_confirming_is_retried_not_judged(
    reader, sandbox_campaign_factory, connect_x, sandbox, status
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    reward = shared_reward(reader, campaign)
    # Three: the client's own quick retries of a read (X_RETRY_DELAYS) included.
    sandbox.fault(TIMELINE, status=status, times=3)

    attempt = confirm_share(reward.pk)

    assert attempt.result == ConfirmResult.X_FAILED
    reward.refresh_from_db()
    assert reward.status == Status.SHARED
    assert reward.confirm_attempts == 0
    assert f"X answered {status}" in reward.failure_reason or status == 429
    if status != 429:
        assert looks(reward, 1) == [ConfirmResult.CONFIRMED]


def test_a_refused_token_asks_to_reconnect_and_keeps_the_place(
    client,
    reader,
    other_user,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    page_text,
):
    campaign = sandbox_campaign_factory(max_participants=1)
    connect_x(reader, "reader")
    connect_x(other_user)
    reward = shared_reward(reader, campaign)
    sandbox.revoke_tokens("reader")

    assert looks(reward, 2) == [ConfirmResult.RECONNECT, ConfirmResult.RECONNECT]

    assert not XConnection.objects.filter(user=reader).exists()
    assert ShareReward.objects.get(pk=reward.pk).status == Status.SHARED
    assert not share_to_x(other_user, campaign).ok  # the place is still held
    client.force_login(reader)
    box = page_text(client.get(f"/campaigns/{campaign.pk}/box"))
    assert "We need your X account to confirm this retweet. Reconnect X by" in box

    connect_x(reader, "reader")
    assert looks(reward, 1) == [ConfirmResult.CONFIRMED]


def test_a_reader_who_never_reconnects_loses_the_place_after_the_hold(
    reader, other_user, sandbox_campaign_factory, connect_x, sandbox, settings
):
    campaign = sandbox_campaign_factory(max_participants=1)
    connect_x(reader, "reader")
    connect_x(other_user)
    reward = shared_reward(reader, campaign)
    sandbox.revoke_tokens("reader")
    assert looks(reward, 1) == [ConfirmResult.RECONNECT]
    hours = settings.X_VERIFY_RECONNECT_HOURS
    ShareReward.objects.filter(pk=reward.pk).update(
        shared_at=timezone.now() - timedelta(hours=hours, minutes=1),
        updated_at=timezone.now() - timedelta(hours=hours, minutes=1),
    )

    assert sweep_shared_rewards() == {"queued": 0, "expired": 1}

    reward.refresh_from_db()
    assert (reward.status, reward.failure_reason) == (Status.FAILED, RECONNECT_TOO_LATE)
    assert share_to_x(other_user, campaign).ok


@pytest.mark.django_db(transaction=True)
def test_a_look_that_read_an_older_row_writes_nothing(
    reader, sandbox_campaign_factory, connect_x, sandbox, settings, wait_for
):
    """Two copies of the task: the first hangs in its read while the second looks;
    the first then finds the row moved on and counts nothing."""
    settings.X_RETRY_DELAYS = []
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = shared_reward(reader, campaign)
    sandbox.undo_retweet("reader", campaign.first_tweet.tweet_id)
    sandbox.fault(TIMELINE, hang=1.5)
    results: list[ConfirmResult] = []
    slow = threading.Thread(
        target=lambda: results.append(confirm_share(reward.pk).result)
    )
    slow.start()
    # The slow copy's read has reached X once the fault has struck.
    assert wait_for(lambda: not sandbox.pending_faults())

    fast = confirm_share(reward.pk).result
    slow.join()

    assert (fast, results) == (ConfirmResult.LOOK_AGAIN, [ConfirmResult.ALREADY_DONE])
    assert ShareReward.objects.get(pk=reward.pk).confirm_attempts == 1


@pytest.mark.django_db(transaction=True)
def test_two_looks_that_both_see_it_confirm_once(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    reward = shared_reward(reader, campaign)
    results: list[ConfirmResult] = []
    copies = [
        threading.Thread(target=lambda: results.append(confirm_share(reward.pk).result))
        for _ in range(3)
    ]
    for copy in copies:
        copy.start()
    for copy in copies:
        copy.join()

    assert sorted(results) == sorted(
        [
            ConfirmResult.CONFIRMED,
            ConfirmResult.ALREADY_DONE,
            ConfirmResult.ALREADY_DONE,
        ]
    )
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1


def test_the_campaign_chooses_the_policy(
    reader, other_user, sandbox_campaign_factory, connect_x, settings
):
    off = sandbox_campaign_factory()
    ShareCampaign.objects.filter(pk=off.pk).update(verify_shares="off")
    off.refresh_from_db()
    connect_x(reader)
    connect_x(other_user)

    outcome = share_to_x(reader, off)

    assert outcome.reward is not None and outcome.reward.status == Status.VERIFIED
    assert outcome.message.startswith("Retweeted & Liked! You earned")

    settings.X_VERIFY_SHARES = "off"
    confirmed = sandbox_campaign_factory()
    ShareCampaign.objects.filter(pk=confirmed.pk).update(verify_shares="sample:100")
    confirmed.refresh_from_db()
    shared = share_to_x(other_user, confirmed).reward
    assert shared is not None and shared.status == Status.SHARED


@pytest.mark.parametrize(
    ("text", "percent"),
    [
        ("all", 100),
        ("off", 0),
        ("sample:25", 25),
        (" SAMPLE:0 ", 0),
        ("sample:100", 100),
    ],
)
def test_policies_parse(text, percent):
    assert parse_verify_policy(text).percent == percent


@pytest.mark.parametrize("text", ["", "some", "sample:", "sample:101", "sample:-1"])
def test_other_policies_are_refused(text):
    with pytest.raises(ValueError, match="is not all, off, or sample"):
        parse_verify_policy(text)


def test_a_sample_confirms_about_its_share():
    policy = parse_verify_policy("sample:30")
    picked = sum(policy.picks_share() for _ in range(2000))
    assert 400 < picked < 800


def test_the_sweeper_queues_a_look_whose_message_was_lost(
    reader, sandbox_campaign_factory, connect_x, celery_worker, wait_for
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    reward = shared_reward(reader, campaign)
    # As if the broker lost the first look: the row sits untouched past the quiet
    # period, with its look never run.
    ShareReward.objects.filter(pk=reward.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )
    assert sweep_shared_rewards()["queued"] == 1

    assert wait_for(
        lambda: (
            ShareReward.objects.get(pk=reward.pk).status
            in (Status.VERIFIED, Status.REWARDED)
        )
    )


LIKED_TWEETS = "GET /2/users/:id/liked_tweets"


def liked_tweets_reads(sandbox) -> int:
    return (
        sandbox.requests(limit=0)["by_route"].get(LIKED_TWEETS, {}).get("requests", 0)
    )


@pytest.mark.parametrize("like_taken_back", [False, True])
def test_with_likes_confirmed_a_like_not_seen_is_recorded_as_not_made(
    reader, sandbox_campaign_factory, connect_x, sandbox, settings, like_taken_back
):
    settings.X_VERIFY_LIKES = True
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = shared_reward(reader, campaign)
    assert reward.liked
    earned = reward.bux_rewarded
    if like_taken_back:
        sandbox.undo_like("reader", campaign.first_tweet.tweet_id)

    results = looks(reward, settings.X_VERIFY_ATTEMPTS)

    reward.refresh_from_db()
    if like_taken_back:
        # Looked for as long as the retweet would be, then the share is confirmed
        # on its retweet alone, the like recorded as not made.
        assert results[-1] == ConfirmResult.CONFIRMED
        assert set(results[:-1]) == {ConfirmResult.LOOK_AGAIN}
        assert (reward.status, reward.liked) == (Status.VERIFIED, False)
        assert liked_tweets_reads(sandbox) == settings.X_VERIFY_ATTEMPTS
    else:
        assert results[0] == ConfirmResult.CONFIRMED
        assert (reward.status, reward.liked) == (Status.VERIFIED, True)
        assert liked_tweets_reads(sandbox) == 1
    assert reward.bux_rewarded == earned  # earned by the retweet alone


def test_likes_are_not_confirmed_by_default(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = shared_reward(reader, campaign)
    sandbox.undo_like("reader", campaign.first_tweet.tweet_id)

    assert looks(reward, 1) == [ConfirmResult.CONFIRMED]

    reward.refresh_from_db()
    assert (reward.status, reward.liked) == (Status.VERIFIED, True)
    assert liked_tweets_reads(sandbox) == 0


def test_likes_x_will_not_show_leave_the_like_as_x_answered(
    reader, sandbox_campaign_factory, connect_x, sandbox, settings
):
    """A token from before like.read was asked for, or a plan without the read:
    the share is confirmed on its retweet, nothing judged of the like."""
    settings.X_VERIFY_LIKES = True
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = shared_reward(reader, campaign)
    sandbox.fault(LIKED_TWEETS, status=403)

    assert looks(reward, 1) == [ConfirmResult.CONFIRMED]

    reward.refresh_from_db()
    assert (reward.status, reward.liked) == (Status.VERIFIED, True)
    assert liked_tweets_reads(sandbox) == 1
