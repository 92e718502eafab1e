"""Retweet & Like: guards, messages, X failures, and the reward claimed exactly once."""

from __future__ import annotations

import base64
import html
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import SecurityEvent
from campaigns.models import ShareCampaign, ShareReward
from campaigns.services import share_to_x
from social.crypto import decrypt_token
from social.models import XConnection
from social.services import maybe_refresh_token
from social.x_api import XApiClient, XOAuthError

pytestmark = pytest.mark.usefixtures("fast_retries")

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    """The page as a reader reads it (HTML entities decoded)."""
    return html.unescape(response.content.decode())


def share(client, campaign, **extra):
    return client.post(f"/campaigns/{campaign.pk}/share", **HTMX, **extra)


def test_the_box_shows_the_personal_amount_and_sharing_earns_it(
    client, reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory(bux_reward=Decimal("3"))
    connection = connect_x(reader, score=33)
    client.force_login(reader)

    page = text(client.get(campaign.post.get_absolute_url()))
    assert "+99 BUX" in page  # round(33 × 3)

    response = share(client, campaign)

    body = text(response)
    assert response.status_code == 200
    assert "Retweeted & Liked! You earned 99 BUX!" in body
    reward = ShareReward.objects.get(user=reader, campaign=campaign)
    assert reward.status == "verified"
    assert reward.bux_rewarded == Decimal("99")
    assert reward.retweet_id == campaign.first_tweet.tweet_id
    assert reward.liked is True
    assert reward.x_connection_id == connection.pk
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1
    assert [r["tweet_id"] for r in sandbox.retweets()] == [
        campaign.first_tweet.tweet_id
    ]
    assert [r["tweet_id"] for r in sandbox.likes()] == [campaign.first_tweet.tweet_id]


def test_without_javascript_the_form_post_redirects_with_a_message(
    client, reader, sandbox_campaign_factory, connect_x
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, score=10)
    client.force_login(reader)

    response = client.post(f"/campaigns/{campaign.pk}/share")

    assert response.status_code == 302
    assert response["Location"] == campaign.post.get_absolute_url()
    page = text(client.get(response["Location"]))
    assert "Retweeted & Liked! You earned 20 BUX!" in page


def test_anonymous_readers_are_asked_to_log_in(client, campaign_factory, db):
    campaign = campaign_factory()

    page = text(client.get(campaign.post.get_absolute_url()))
    assert "Sign in to earn BUX" in page
    response = share(client, campaign)
    plain = client.post(f"/campaigns/{campaign.pk}/share")

    assert response.status_code == 401
    assert "Please log in to share" in text(response)
    assert plain.status_code == 302 and plain["Location"].startswith("/accounts/login/")
    assert not ShareReward.objects.exists()


def test_a_reader_without_x_is_asked_to_connect(client, reader, campaign_factory):
    campaign = campaign_factory()
    client.force_login(reader)

    page = text(client.get(campaign.post.get_absolute_url()))
    response = share(client, campaign)

    assert "Connect X Account" in page
    assert "Please connect your X account first" in text(response)
    assert not ShareReward.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"starts_at": timezone.now() + timedelta(hours=1)},
        {"ends_at": timezone.now() - timedelta(seconds=1)},
    ],
    ids=["inactive", "not-started", "ended"],
)
def test_a_closed_campaign_gives_no_reward_even_if_the_page_was_loaded_earlier(
    client, reader, sandbox_campaign_factory, connect_x, sandbox, change
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    client.force_login(reader)
    assert "Retweet & Like" in text(client.get(campaign.post.get_absolute_url()))
    if "ends_at" in change:
        change["starts_at"] = change["ends_at"] - timedelta(days=1)
    ShareCampaign.objects.filter(pk=campaign.pk).update(**change)

    response = share(client, campaign)

    assert "This campaign is no longer running." in text(response)
    assert not ShareReward.objects.exists()
    assert sandbox.retweets() == []
    page = text(client.get(campaign.post.get_absolute_url()))
    if "is_active" in change:
        assert "Share on X" in page and "x.com/intent/post" in page
    elif "ends_at" in change:
        assert "This campaign has ended" in page and "Share on X" not in page
    else:
        assert "Opens " in page and "Retweet & Like ·" not in page


def test_a_full_campaign_refuses_more_readers(
    client, reader, user_factory, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory(max_participants=1)
    first = user_factory()
    connect_x(first)
    connect_x(reader)
    assert share_to_x(first, campaign).ok
    client.force_login(reader)

    response = share(client, campaign)

    assert "reached its maximum number of participants" in text(response)
    assert ShareReward.objects.filter(campaign=campaign).count() == 1


def test_a_post_without_campaign_offers_a_plain_share_link(
    client, post_factory, reader
):
    post = post_factory(title="Plain story")
    client.force_login(reader)

    page = text(client.get(post.get_absolute_url()))

    assert "Share on X" in page
    assert "https://x.com/intent/post?text=Plain+story" in page
    assert "BUX" not in page.split("campaign-box")[1]


def test_the_second_share_earns_nothing(
    client, reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    client.force_login(reader)
    share(client, campaign)

    again = share(client, campaign)

    assert "You've already shared this article!" in text(again)
    assert ShareReward.objects.filter(user=reader).count() == 1
    assert len(sandbox.retweets()) == 1
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 1


def test_a_retweet_made_earlier_on_x_counts_as_done(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connection = connect_x(reader)
    # The reader had already retweeted the post on X itself.
    token = sandbox.connect(sandbox.account(connection.x_user_id)["key"])[
        "access_token"
    ]
    sandbox.http.post(
        f"/2/users/{connection.x_user_id}/retweets",
        json={"tweet_id": campaign.first_tweet.tweet_id},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()

    outcome = share_to_x(reader, campaign)

    assert outcome.ok
    assert ShareReward.objects.get(user=reader).status == "verified"
    assert len(sandbox.retweets()) == 1


def test_a_like_refused_by_the_x_plan_still_rewards(
    reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, score=5)
    sandbox.set_plan("self-serve")

    outcome = share_to_x(reader, campaign)

    assert outcome.ok
    assert outcome.message == "Retweeted! You earned 10 BUX!"
    reward = ShareReward.objects.get(user=reader)
    assert reward.status == "verified" and reward.liked is False


@pytest.mark.parametrize("skip", ["setting", "campaign"])
def test_likes_can_be_skipped_altogether(
    reader, sandbox_campaign_factory, connect_x, sandbox, settings, skip
):
    if skip == "setting":
        settings.X_LIKES_ENABLED = False
        campaign = sandbox_campaign_factory()
    else:
        campaign = sandbox_campaign_factory(request_like=False)
    connect_x(reader, score=5)

    outcome = share_to_x(reader, campaign)

    assert outcome.message == "Retweeted! You earned 10 BUX!"
    assert sandbox.likes() == []
    like_calls = [r for r in sandbox.requests()["log"] if r["route"].endswith("/likes")]
    assert like_calls == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"status": 429}, "Rate limited - please try again"),
        (
            {"status": 403},
            "You are not permitted to perform this action.",
        ),
        ({"status": 500}, "X is unavailable right now - please try again later"),
        ({"drop": True, "when": "before"}, "Connection lost - please try again"),
    ],
    ids=["429", "403", "500", "connection-reset"],
)
def test_x_failures_leave_no_reward_and_a_retry_works(
    client, reader, sandbox_campaign_factory, connect_x, sandbox, fault, message
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    client.force_login(reader)
    sandbox.fault("POST /2/users/:id/retweets", **fault)

    failed = share(client, campaign)

    assert message in text(failed)
    assert not ShareReward.objects.exists()
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 0
    retried = share(client, campaign)
    if fault.get("status") == 429:
        # Our client remembers X's 429 and does not spend a request on it again.
        assert "Rate limited" in text(retried)
        return
    assert "You earned" in text(retried)
    assert ShareReward.objects.get().status == "verified"


def test_a_timeout_leaves_no_reward_and_a_retry_works(
    client, reader, sandbox_campaign_factory, connect_x, sandbox, settings
):
    settings.X_READ_TIMEOUT = 0.5
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    client.force_login(reader)
    sandbox.fault("POST /2/users/:id/retweets", hang=1.5)

    failed = share(client, campaign)

    assert "Request timed out - please try again" in text(failed)
    assert not ShareReward.objects.exists()
    assert "You earned" in text(share(client, campaign))


def test_an_expired_x_session_disconnects_and_asks_to_reconnect(
    client, reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connection = connect_x(reader)
    client.force_login(reader)
    sandbox.revoke_tokens(sandbox.account(connection.x_user_id)["key"], kind="access")

    response = share(client, campaign)

    body = text(response)
    assert "X session expired. Please reconnect your account." in body
    assert "Reconnect your X account" in body
    assert f"/auth/x/authorize?redirect_to={campaign.post.get_absolute_url()}" in body
    assert not XConnection.objects.filter(user=reader).exists()
    assert not ShareReward.objects.exists()


def test_a_dead_refresh_token_asks_to_reconnect(
    client, reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connection = connect_x(reader)
    XConnection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=5)
    )
    sandbox.revoke_tokens(sandbox.account(connection.x_user_id)["key"], kind="refresh")
    client.force_login(reader)

    body = text(share(client, campaign))

    assert "X session expired. Please reconnect your account." in body
    assert not ShareReward.objects.exists()


def test_a_reused_refresh_token_ends_the_grant_and_the_reader_reconnects(
    client, reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connection = connect_x(reader)
    copy = decrypt_token(
        connection.refresh_token_encrypted, column="refresh_token", user_id=reader.pk
    )
    XConnection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=5)
    )
    maybe_refresh_token(XConnection.objects.get(pk=connection.pk))  # rotates
    api = XApiClient.from_settings()
    with pytest.raises(XOAuthError):
        api.refresh_token(copy)  # a stolen copy of the old token comes back
    client.force_login(reader)

    body = text(share(client, campaign))

    assert "X session expired. Please reconnect your account." in body
    assert not XConnection.objects.filter(user=reader).exists()
    assert not ShareReward.objects.exists()
    assert sandbox.retweets() == []


OTHER_KEY = "other:" + base64.b64encode(b"o" * 32).decode()


def _break_tokens(connection, how: str, *, settings, other) -> None:
    """Make the stored tokens unreadable the way it happens in production."""
    column = "refresh_token" if how == "refresh token damaged" else "access_token"
    if how == "key removed":
        settings.TOKEN_ENCRYPTION_KEYS = [OTHER_KEY]
        return
    if how == "copied from another row":
        blob = bytes(other.access_token_encrypted)
    else:
        damaged = bytearray(getattr(connection, f"{column}_encrypted"))
        damaged[-1] ^= 1
        blob = bytes(damaged)
    changes: dict[str, object] = {f"{column}_encrypted": blob}
    if column == "refresh_token":
        changes["token_expires_at"] = timezone.now() + timedelta(minutes=5)
    XConnection.objects.filter(pk=connection.pk).update(**changes)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("damaged", "access_token_undecryptable"),
        ("key removed", "access_token_undecryptable"),
        ("copied from another row", "access_token_undecryptable"),
        ("refresh token damaged", "refresh_token_undecryptable"),
    ],
)
def test_a_token_that_no_longer_decrypts_asks_to_reconnect(
    client,
    reader,
    user_factory,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    settings,
    how,
    reason,
):
    campaign = sandbox_campaign_factory()
    connection = connect_x(reader)
    other = connect_x(user_factory())
    _break_tokens(connection, how, settings=settings, other=other)
    client.force_login(reader)

    response = share(client, campaign)

    body = text(response)
    assert response.status_code == 200
    assert "X session expired. Please reconnect your account." in body
    assert f"/auth/x/authorize?redirect_to={campaign.post.get_absolute_url()}" in body
    # Handled as a revoked grant: the connection goes, the account lock stays.
    assert not XConnection.objects.filter(user=reader).exists()
    reader.refresh_from_db()
    assert reader.locked_x_user_id == connection.x_user_id
    assert not ShareReward.objects.exists()
    assert sandbox.retweets() == []
    prompt = SecurityEvent.objects.get(kind=SecurityEvent.Kind.X_RECONNECT_REQUIRED)
    assert (prompt.user, prompt.detail["reason"]) == (reader, reason)


def test_share_is_post_only_with_csrf(reader, sandbox_campaign_factory, connect_x):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader)

    assert client.get(f"/campaigns/{campaign.pk}/share").status_code == 405
    assert client.post(f"/campaigns/{campaign.pk}/share").status_code == 403
    assert not ShareReward.objects.exists()


def test_too_many_attempts_are_refused_without_calling_x(
    client, reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaigns = [sandbox_campaign_factory(is_active=False) for _ in range(6)]
    connect_x(reader)
    client.force_login(reader)
    for campaign in campaigns:
        share(client, campaign)
    open_campaign = sandbox_campaign_factory()

    response = share(client, open_campaign)

    assert response.status_code == 429
    assert "Too many attempts" in text(response)
    assert not ShareReward.objects.exists()
    assert sandbox.retweets() == []


def test_unknown_campaign_is_404(client, reader):
    client.force_login(reader)

    assert share(client, type("C", (), {"pk": 999999})()).status_code == 404


def test_a_campaign_on_an_unpublished_post_cannot_be_shared_or_seen(
    client, reader, sandbox_campaign_factory, connect_x, sandbox
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    campaign.post.is_published = False
    campaign.post.save()
    client.force_login(reader)

    assert share(client, campaign).status_code == 404
    assert client.get(f"/campaigns/{campaign.pk}/box").status_code == 404
    # Even called directly, the service refuses a draft's campaign.
    assert not share_to_x(reader, campaign).ok
    assert not ShareReward.objects.exists()
    assert sandbox.retweets() == []


def test_while_the_x_score_is_calculated_the_box_waits_and_sharing_is_held(
    client, reader, sandbox_campaign_factory, connect_x, sandbox, page_text
):
    campaign = sandbox_campaign_factory()
    connect_x(reader, score=None)
    client.force_login(reader)

    page = client.get(campaign.post.get_absolute_url())
    refused = share(client, campaign)

    assert "Calculating your X score" in page_text(page)
    assert f'hx-get="/campaigns/{campaign.pk}/box"' in page.content.decode()
    assert "still being calculated" in page_text(refused)
    assert not ShareReward.objects.exists()
    assert sandbox.retweets() == []


def test_when_the_score_never_comes_sharing_pays_the_base_and_says_so(
    client, reader, sandbox_campaign_factory, connect_x, page_text
):
    campaign = sandbox_campaign_factory(bux_reward=Decimal("3"))
    connection = connect_x(reader, score=None)
    XConnection.objects.filter(pk=connection.pk).update(
        connected_at=timezone.now() - timedelta(minutes=11)
    )
    client.force_login(reader)

    page = page_text(client.get(campaign.post.get_absolute_url()))
    response = share(client, campaign)

    assert "We could not calculate your X score" in page and "+3 BUX" in page
    assert "You earned 3 BUX!" in page_text(response)


def test_a_reader_without_x_sees_the_base_times_their_score(
    client, reader, campaign_factory, page_text
):
    campaign = campaign_factory(bux_reward=Decimal("2"))
    client.force_login(reader)

    page = page_text(client.get(campaign.post.get_absolute_url()))

    assert "+2 BUX × your X score" in page
