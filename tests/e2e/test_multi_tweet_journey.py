"""A campaign with several tweets, in Chromium: the reader retweets them one by one
from the box, without the page reloading, and sees each minted."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from campaigns.models import ShareCampaign, ShareReward
from sandbox.testing import Sandbox
from social.models import XConnection
from tests.e2e.test_journeys import campaign_box, log_in, open_post
from tests.factories import WALLET

pytestmark = pytest.mark.e2e

MINT_DEADLINE_MS = 30_000


def test_a_reader_shares_two_tweets_of_a_campaign_and_sees_both_minted(
    page: Page,
    sandbox: Sandbox,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
    connect_x: Callable[..., XConnection],
) -> None:
    campaign = sandbox_campaign_factory(tweets=2, bux_reward=Decimal("2"))
    first, second = campaign.tweets.all()
    reader = user_factory(email="thread@example.com", wallet_address=WALLET)
    connect_x(reader, "zero", score=10)

    log_in(page, reader.email)
    open_post(page, campaign)
    box = campaign_box(page)
    expect(box.locator(".campaign-tweet")).to_have_count(2)
    expect(box.locator(".tweet-card")).to_have_count(2)
    # Set on this page: it survives only if the page is never reloaded.
    page.evaluate("window.sameDocument = true")

    for tweet in (first, second):
        item = campaign_box(page).locator(f"#campaign-tweet-{tweet.pk}")
        item.get_by_role("button", name="Retweet & Like · earn 20 BUX").click()
        expect(
            campaign_box(page).locator(
                f"#campaign-tweet-{tweet.pk} [data-state=rewarded]"
            )
        ).to_contain_text("Earned 20 BUX", timeout=MINT_DEADLINE_MS)

    for tweet in (first, second):
        item = campaign_box(page).locator(f"#campaign-tweet-{tweet.pk}")
        expect(item.get_by_role("button")).to_have_count(0)
        expect(
            item.get_by_text("view transaction").or_(item.locator(".mono"))
        ).to_be_visible()
    assert page.evaluate("window.sameDocument") is True
    rewards = ShareReward.objects.filter(user=reader, campaign=campaign)
    assert sorted(r.campaign_tweet_id for r in rewards) == [first.pk, second.pk]
    assert {r.status for r in rewards} == {"rewarded"}
    assert len({r.tx_hash for r in rewards}) == 2
    assert sorted(r["tweet_id"] for r in sandbox.retweets()) == sorted(
        [first.tweet_id, second.tweet_id]
    )
