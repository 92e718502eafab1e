"""A campaign's tweet as X shows it: read with the app's token when staff add it,
refused when X does not show it to the public, drawn as our own card in the share
box, and "no longer on X" once a retweet is answered "not found"."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from campaigns.models import CampaignTweet, ShareCampaign, ShareReward
from campaigns.services.tweets import TWEET_DELETED_MESSAGE
from social.models import XSpend
from social.spend import Purpose

pytestmark = pytest.mark.usefixtures("fast_retries")

CAMPAIGNS_URL = "/admin/campaigns/sharecampaign/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def add_campaign(admin_client, post, tweet_id: str):
    return admin_client.post(
        f"{CAMPAIGNS_URL}add/",
        {
            "post": post.pk,
            "tweet_urls": tweet_url(tweet_id),
            "bux_reward": "5",
            "is_active": "on",
            "starts_at_0": "",
            "starts_at_1": "",
            "ends_at_0": "",
            "ends_at_1": "",
            "max_participants": "",
        },
    )


def tweet_url(tweet_id: str) -> str:
    return f"https://x.com/BlocksterCom/status/{tweet_id}"


def tweet_url_errors(response) -> list[str]:
    return list(response.context["adminform"].form.errors.get("tweet_urls", []))


# --- Staff add a tweet ----------------------------------------------------------------


def test_adding_a_tweet_stores_it_as_x_shows_it(admin_client, post_factory, sandbox):
    post = post_factory()
    tweet = sandbox.create_tweet("Our DeFi wallet guide is out.", author="creator")

    response = add_campaign(admin_client, post, tweet["id"])

    assert response.status_code == 302
    stored = ShareCampaign.objects.get(post=post).first_tweet
    assert stored.tweet_text == "Our DeFi wallet guide is out."
    assert (stored.tweet_author_name, stored.tweet_author_username) == (
        "Mo | Chain Builder",
        "chainbuilder_mo",
    )
    assert stored.tweet_posted_at is not None
    assert stored.tweet_posted_at.isoformat().startswith(tweet["created_at"][:19])
    assert stored.tweet_deleted_at is None
    # Read with the app's own token: no reader's token is involved.
    (lookup,) = [r for r in sandbox.requests()["log"] if r["route"] == "/2/tweets/:id"]
    assert (lookup["status"], lookup["user_id"]) == (200, None)
    # Billed as X bills it: the post, and its author from the expansion.
    spent = XSpend.objects.get(purpose=Purpose.CAMPAIGN_TWEET)
    assert spent.cost_micros == round(Decimal(lookup["cost_usd"]) * 1_000_000) > 0


@pytest.mark.parametrize("why", ["never posted", "deleted", "protected"])
def test_a_tweet_x_does_not_show_the_public_is_refused(
    admin_client, post_factory, sandbox, why
):
    post = post_factory()
    if why == "never posted":
        tweet_id = "1999999999999999999"
    elif why == "deleted":
        tweet_id = sandbox.create_tweet("Gone soon")["id"]
        sandbox.delete_tweet(tweet_id)
    else:
        sandbox.create_account("locked_account", protected=True)
        tweet_id = sandbox.create_tweet("Friends only", author="locked_account")["id"]

    response = add_campaign(admin_client, post, tweet_id)

    assert response.status_code == 200
    assert tweet_url_errors(response) == [
        f"{tweet_url(tweet_id)}: X does not show this post to the public: it does "
        "not exist, was deleted, or its account is protected. Readers could not "
        "retweet it."
    ]
    assert not ShareCampaign.objects.exists()


def test_a_tweet_x_cannot_be_asked_about_is_refused_with_the_reason(
    admin_client, post_factory, sandbox
):
    tweet = sandbox.create_tweet("Fine, but X is down")
    sandbox.fault("GET /2/tweets/:id", status=503, times=None)

    response = add_campaign(admin_client, post_factory(), tweet["id"])

    assert tweet_url_errors(response) == [
        f"{tweet_url(tweet['id'])}: X could not be asked about this post (X is "
        "unavailable right now - please try again later). Try saving again in a "
        "moment."
    ]
    assert not ShareCampaign.objects.exists()


def test_a_missing_or_refused_app_token_is_named_for_the_operator(
    admin_client, post_factory, sandbox, settings
):
    tweet = sandbox.create_tweet("Fine")
    settings.X_BEARER_TOKEN = "not-the-apps-token"

    response = add_campaign(admin_client, post_factory(), tweet["id"])

    assert tweet_url_errors(response) == [
        f"{tweet_url(tweet['id'])}: X refused the site's app credentials "
        "(X_BEARER_TOKEN), so the post could not be read: the operator must set a "
        "valid token."
    ]
    assert "not-the-apps-token" not in response.content.decode()


# --- The card in the share box --------------------------------------------------------


def test_the_box_draws_the_tweet_with_safe_links_and_no_embed(
    client, reader, connect_x, sandbox, admin_client, post_factory
):
    post = post_factory()
    text = (
        "Read <b>this</b> & share: https://blockster.com/guide?a=1&b=2 "
        '"><script>alert(1)</script>'
    )
    tweet = sandbox.create_tweet(text)
    assert add_campaign(admin_client, post, tweet["id"]).status_code == 302
    connect_x(reader, score=10)
    client.force_login(reader)

    response = client.get(post.get_absolute_url())

    page = response.content.decode()
    card = page[page.index('<figure class="tweet-card"') : page.index("</figure>")]
    assert "Blockster" in card and "@BlocksterCom" in card
    assert "Read &lt;b&gt;this&lt;/b&gt; &amp; share:" in card
    assert (
        '<a href="https://blockster.com/guide?a=1&amp;b=2" rel="nofollow">'
        "https://blockster.com/guide?a=1&amp;b=2</a>"
    ) in card
    assert "<script>" not in card and "&lt;script&gt;alert(1)&lt;/script&gt;" in card
    assert f'href="https://x.com/BlocksterCom/status/{tweet["id"]}"' in card
    assert re.search(r"<time datetime=\"[^\"]+\">\d+ \w+ \d{4}, \d\d:\d\d UTC", card)
    # Nothing of X's runs on our page: no embed script, no frame.
    assert "platform.twitter.com" not in page and "<iframe" not in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_campaign_without_a_stored_tweet_links_to_it(
    client, reader, campaign_factory, connect_x
):
    campaign = campaign_factory()
    connect_x(reader)
    client.force_login(reader)

    page = client.get(campaign.post.get_absolute_url()).content.decode()

    assert f'<a href="{campaign.first_tweet.tweet_url}"' in page
    assert "tweet-card-text" not in page


# --- Deleted on X after the launch ----------------------------------------------------


def test_a_tweet_deleted_after_launch_shows_as_gone_in_the_box_and_in_admin(
    client, reader, other_user, connect_x, sandbox, sandbox_campaign_factory,
    admin_client, page_text,
):  # fmt: skip
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    connect_x(other_user)
    client.force_login(reader)
    tweet = campaign.first_tweet
    sandbox.delete_tweet(tweet.tweet_id)

    response = client.post(f"/campaigns/{campaign.pk}/share", **HTMX)

    assert TWEET_DELETED_MESSAGE in page_text(response)
    assert 'data-state="tweet-deleted"' in response.content.decode()
    assert not ShareReward.objects.exists()
    tweet.refresh_from_db()
    assert tweet.tweet_deleted_at is not None
    assert sandbox.retweets() == []

    # The next reader is told at once, and X is not asked again.
    client.force_login(other_user)
    retweets_asked = sandbox.requests()["by_route"]["POST /2/users/:id/retweets"]
    page = page_text(client.get(campaign.post.get_absolute_url()))
    again = client.post(f"/campaigns/{campaign.pk}/share", **HTMX)
    assert "This post is no longer on X" in page
    assert "Retweet & Like ·" not in page
    assert TWEET_DELETED_MESSAGE in page_text(again)
    assert (
        sandbox.requests()["by_route"]["POST /2/users/:id/retweets"] == retweets_asked
    )

    listing = page_text(admin_client.get(CAMPAIGNS_URL))
    change = page_text(admin_client.get(f"{CAMPAIGNS_URL}{campaign.pk}/change/"))
    assert f"{tweet.tweet_id} (deleted on X)" in listing
    assert "Active · tweet deleted on X" in listing
    assert 'Deleted on X (X answered "not found" for it on' in change


def test_a_new_tweet_for_the_campaign_clears_the_deleted_state(
    admin_client, sandbox, sandbox_campaign_factory
):
    campaign = sandbox_campaign_factory()
    CampaignTweet.objects.filter(campaign=campaign).update(
        tweet_deleted_at=campaign.created_at
    )
    replacement = sandbox.create_tweet("The guide, posted again")

    response = admin_client.post(
        f"{CAMPAIGNS_URL}{campaign.pk}/change/",
        {
            "tweet_urls": tweet_url(replacement["id"]),
            "bux_reward": "2",
            "is_active": "on",
            "request_like": "on",
            "starts_at_0": "",
            "starts_at_1": "",
            "ends_at_0": "",
            "ends_at_1": "",
            "max_participants": "",
        },
    )

    assert response.status_code == 302
    (tweet,) = campaign.tweets.all()
    assert (tweet.tweet_id, tweet.tweet_text) == (
        replacement["id"],
        "The guide, posted again",
    )
    assert tweet.tweet_deleted_at is None
