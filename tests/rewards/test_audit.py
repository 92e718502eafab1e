"""The audit after payout: a confirmed, rewarded retweet is looked at once more a
day later; one taken back is marked undone and counts against the reader."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import SecurityEvent, User
from campaigns.models import CampaignTweet, ShareReward
from campaigns.services import get_campaign_stats, share_to_x
from campaigns.services.confirm import confirm_share
from campaigns.services.tweets import mark_tweet_deleted
from rewards.services import audit_rewarded_shares, mark_undone, mint_share_reward
from rewards.services.audit import POST_DELETED_NOTE, UNDONE_REASON
from tests.factories import WALLET

pytestmark = pytest.mark.usefixtures("fast_retries", "confirm_shares")

Status = ShareReward.Status
TIMELINE = "GET /2/users/:id/tweets"
TWEET_LOOKUP = "GET /2/tweets/:id"


@pytest.fixture
def audit_now(settings):
    """Rewards are due for the audit as soon as they are minted."""
    settings.X_AUDIT_DELAY_SECONDS = 0


def paid_share(reader, campaign) -> ShareReward:
    """Shared, confirmed on X and minted, as the worker would do it."""
    reward = share_to_x(reader, campaign).reward
    assert reward is not None
    confirm_share(reward.pk)
    mint_share_reward(reward.pk)
    reward.refresh_from_db()
    assert reward.status == Status.REWARDED and reward.retweet_post_id
    return reward


def test_a_retweet_undone_after_payout_is_marked_undone_by_the_audit(
    client, reader, sandbox_campaign_factory, connect_x, sandbox, audit_now, page_text
):
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"))
    connect_x(reader, "reader", score=10)
    reward = paid_share(reader, campaign)

    sandbox.undo_retweet("reader", campaign.first_tweet.tweet_id)
    result = audit_rewarded_shares()

    # The timeline, then the campaign's post (still on X: the reader took it back).
    assert result == {
        "read": 2,
        "kept": 0,
        "undone": 1,
        "skipped": 0,
        "post_deleted": 0,
    }
    reward.refresh_from_db()
    assert reward.status == Status.UNDONE
    assert reward.failure_reason == UNDONE_REASON
    assert reward.tx_hash and len(sandbox.mints()) == 1  # the BUX stay minted
    assert User.objects.get(pk=reader.pk).undone_shares == 1
    stats = get_campaign_stats(campaign)
    assert (stats["undone"], stats["rewarded"], stats["total_bux"]) == (
        1,
        0,
        Decimal("20"),
    )
    client.force_login(reader)
    box = page_text(client.get(f"/campaigns/{campaign.pk}/box"))
    assert "You took this retweet back on X after it was rewarded." in box
    assert "The 20 BUX minted stay yours" in box
    # Looked at once: a second run reads nothing.
    assert audit_rewarded_shares()["read"] == 0


def test_retweets_gone_with_their_deleted_post_are_not_held_against_readers(
    client, reader, user_factory, sandbox_campaign_factory, connect_x, sandbox,
    audit_now, celery_worker, wait_for, page_text,
):  # fmt: skip
    campaign = sandbox_campaign_factory()
    second = user_factory(wallet_address=WALLET)
    connect_x(reader, "reader")
    connect_x(second)
    rewards = [paid_share(reader, campaign), paid_share(second, campaign)]
    # The author deletes the post: as on X, both retweets go with it.
    assert sandbox.delete_tweet(campaign.first_tweet.tweet_id) == 2

    result = audit_rewarded_shares()

    # Two timelines, and the post read once for both.
    assert result == {
        "read": 3,
        "kept": 0,
        "undone": 0,
        "skipped": 0,
        "post_deleted": 2,
    }
    assert sandbox.requests(limit=0)["by_route"][TWEET_LOOKUP]["requests"] == 1
    for reward in rewards:
        reward.refresh_from_db()
        assert reward.status == Status.REWARDED and reward.audited_at is not None
        assert reward.failure_reason == POST_DELETED_NOTE
    assert [
        u.undone_shares for u in User.objects.filter(pk__in=[reader.pk, second.pk])
    ] == [0, 0]
    assert get_campaign_stats(campaign)["undone"] == 0
    assert sandbox.undone_retweets() == []
    # The campaign is marked deleted by its own service, on the worker.
    assert wait_for(
        lambda: (
            CampaignTweet.objects.get(campaign=campaign).tweet_deleted_at is not None
        )
    )
    client.force_login(reader)
    box = page_text(client.get(f"/campaigns/{campaign.pk}/box"))
    assert "You took this retweet back" not in box
    assert audit_rewarded_shares()["read"] == 0


def test_shares_of_a_post_known_deleted_are_audited_without_reading_x(
    reader, sandbox_campaign_factory, connect_x, sandbox, audit_now
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = paid_share(reader, campaign)
    sandbox.delete_tweet(campaign.first_tweet.tweet_id)
    mark_tweet_deleted(campaign.first_tweet)
    before = sandbox.requests(limit=0)["total_requests"]

    assert audit_rewarded_shares()["post_deleted"] == 1

    assert sandbox.requests(limit=0)["total_requests"] == before
    reward.refresh_from_db()
    assert (reward.status, reward.failure_reason) == (
        Status.REWARDED,
        POST_DELETED_NOTE,
    )
    assert User.objects.get(pk=reader.pk).undone_shares == 0


def test_a_retweet_still_there_is_kept_for_one_cheap_read(
    reader, sandbox_campaign_factory, connect_x, sandbox, audit_now
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = paid_share(reader, campaign)
    # The reader's later posts do not hide the retweet: the audit reads its post.
    for n in range(6):
        sandbox.create_tweet(f"later post {n}", author="reader")
    before = sandbox.requests()["by_route"][TIMELINE]

    assert audit_rewarded_shares()["kept"] == 1

    reward.refresh_from_db()
    assert reward.status == Status.REWARDED and reward.audited_at is not None
    after = sandbox.requests()["by_route"][TIMELINE]
    assert after["requests"] == before["requests"] + 1
    # One post returned: $0.005.
    assert Decimal(after["cost_usd"]) - Decimal(before["cost_usd"]) == Decimal("0.005")


def test_the_audit_waits_for_its_delay_and_keeps_to_its_budget(
    reader, user_factory, sandbox_campaign_factory, connect_x, settings
):
    second = user_factory(wallet_address=WALLET)
    for user in (reader, second):
        connect_x(user)
        paid_share(user, sandbox_campaign_factory())
    assert audit_rewarded_shares()["read"] == 0  # a day has not passed

    settings.X_AUDIT_DELAY_SECONDS = 0
    settings.X_AUDIT_READS_PER_RUN = 1

    assert audit_rewarded_shares()["read"] == 1
    assert audit_rewarded_shares()["read"] == 1
    assert audit_rewarded_shares()["read"] == 0


def test_x_failing_postpones_the_audit(
    reader, sandbox_campaign_factory, connect_x, sandbox, audit_now
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, "reader")
    reward = paid_share(reader, campaign)
    sandbox.undo_retweet("reader", campaign.first_tweet.tweet_id)
    sandbox.fault(TIMELINE, status=503, times=3)

    assert audit_rewarded_shares()["skipped"] == 1
    assert ShareReward.objects.get(pk=reward.pk).status == Status.REWARDED

    assert audit_rewarded_shares()["undone"] == 1


def test_shares_paid_without_a_confirmation_are_not_audited(
    reader, sandbox_campaign_factory, connect_x, settings, audit_now
):
    settings.X_VERIFY_SHARES = "off"
    connect_x(reader)
    reward = share_to_x(reader, sandbox_campaign_factory()).reward
    assert reward is not None
    mint_share_reward(reward.pk)

    assert audit_rewarded_shares()["read"] == 0


def test_an_undone_share_is_counted_once(reward_factory, reader):
    reward = reward_factory(reader, rewarded=True, retweet_post_id="1900")

    assert mark_undone(reward) == 1
    assert mark_undone(reward) == 0

    assert User.objects.get(pk=reader.pk).undone_shares == 1


def test_a_reader_past_the_limit_is_refused_until_staff_lift_the_bar(
    client,
    admin_client,
    reader,
    sandbox_campaign_factory,
    connect_x,
    settings,
    page_text,
):
    settings.X_UNDONE_SHARES_LIMIT = 1
    connect_x(reader)
    mark_undone(paid_share(reader, sandbox_campaign_factory()))
    campaign = sandbox_campaign_factory()

    refused = share_to_x(reader, campaign)

    assert not refused.ok
    assert refused.message.startswith("You took back retweets you had been paid for")
    assert not ShareReward.objects.filter(user=reader, campaign=campaign).exists()
    client.force_login(reader)
    page = page_text(client.get(campaign.post.get_absolute_url()))
    assert "new campaigns are closed to you" in page
    users = page_text(admin_client.get("/admin/accounts/user/?undone_bar=yes"))
    assert reader.email in users and "1: barred from new campaigns" in users

    answer = admin_client.post(
        "/admin/accounts/user/",
        {"action": "lift_undone_bar", "_selected_action": [reader.pk]},
        follow=True,
    )

    assert "Forgave the undone retweets of 1 reader" in page_text(answer)
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.UNDONE_BAR_LIFTED)
    assert (event.user_id, event.detail) == (reader.pk, {"undone_shares": 1})
    assert share_to_x(reader, campaign).ok
