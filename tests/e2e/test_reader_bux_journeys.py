"""A reader's BUX as they see them in Chromium: the totals on their page and in the
header after a share and after its mint, the feed entry that names the post and
links the retweet and the transaction, and the box while the minter is retried."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from campaigns.models import ShareCampaign, ShareReward
from rewards.services.minting import next_mint_attempt
from sandbox.testing import Sandbox
from social.models import XConnection
from tests.e2e.test_journeys import campaign_box, log_in, open_post, retweet_and_like
from tests.factories import WALLET

pytestmark = pytest.mark.e2e


def open_my_profile(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="My profile"
    ).click()
    expect(page.get_by_role("heading", name="BUX from shares")).to_be_visible()


def total(page: Page, name: str) -> Any:
    return page.locator(f"[data-total={name}] dd")


def test_totals_after_a_share_and_after_its_mint_and_the_feed_entry(
    page: Page,
    sandbox: Sandbox,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
    connect_x: Callable[..., XConnection],
) -> None:
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"))
    reader = user_factory(email="tally@example.com", wallet_address=WALLET)
    connect_x(reader, "zero", score=10)
    header_bux = page.locator(".header-bux")

    log_in(page, reader.email)
    expect(header_bux).to_have_text("0 BUX")
    # The minter takes a while: the reader looks at their page meanwhile.
    sandbox.fault("POST /minter/mint", hang=8)
    open_post(page, campaign)
    retweet_and_like(page)
    expect(campaign_box(page).locator("[data-state=minting]")).to_be_visible()

    open_my_profile(page)
    expect(total(page, "on_the_way")).to_have_text("20 BUX")
    expect(total(page, "minted")).to_have_text("0 BUX")
    expect(header_bux).to_have_text("0 BUX")

    open_post(page, campaign)
    expect(campaign_box(page).locator("[data-state=rewarded]")).to_contain_text(
        "Earned 20 BUX"
    )
    open_my_profile(page)
    expect(total(page, "minted")).to_have_text("20 BUX")
    expect(total(page, "on_the_way")).to_have_text("0 BUX")
    expect(total(page, "undone")).to_have_text("0 BUX")
    expect(header_bux).to_have_text("20 BUX")

    # The feed entry: the post by its title, what was done, the links.
    reward = ShareReward.objects.get(user=reader, campaign=campaign)
    entry = page.locator("[data-entry=x_share]")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Retweeted & Liked")
    expect(entry).to_contain_text("+20 BUX")
    expect(entry.get_by_role("link", name=campaign.post.title)).to_have_attribute(
        "href", campaign.post.get_absolute_url()
    )
    expect(entry.get_by_role("link", name="The post on X")).to_have_attribute(
        "href", f"https://x.com/i/status/{reward.retweet_id}"
    )
    expect(entry.get_by_role("link", name=re.compile(r"^0x"))).to_have_attribute(
        "href", f"https://explorer.example/tx/{reward.tx_hash}"
    )
    expect(page.locator(".activity-day")).to_have_text("Today")
    entry.get_by_role("link", name=campaign.post.title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(campaign.post.title)


@pytest.mark.usefixtures("idempotent_minter")
def test_the_box_says_when_the_minter_is_retried_and_shows_the_mint_after(
    page: Page,
    sandbox: Sandbox,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
    connect_x: Callable[..., XConnection],
    settings: Any,
) -> None:
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"))
    reader = user_factory(email="patient@example.com", wallet_address=WALLET)
    connect_x(reader, "zero", score=10)
    settings.BUX_MINT_RETRY_BASE_SECONDS = 6
    # The minter's first answer is a 503: nothing proves a mint, so the same
    # request is sent again after the delay.
    sandbox.fault("POST /minter/mint", status=503)

    log_in(page, reader.email)
    open_post(page, campaign)
    retweet_and_like(page)
    box = campaign_box(page)
    retrying = box.locator("[data-state=minter-retrying]")
    expect(retrying).to_contain_text(
        "The minter is not answering; we retry automatically. Next attempt around"
    )
    reward = ShareReward.objects.get(user=reader, campaign=campaign)
    when = next_mint_attempt(reward)
    assert when is not None
    expect(retrying.locator("time")).to_have_text(f"{when:%H:%M}")
    # Nothing new to say until the next attempt: the box does not poll.
    expect(box).not_to_have_attribute("hx-trigger", "every 3s")

    expect(box.locator("[data-state=rewarded]")).to_contain_text("Earned 20 BUX")
    assert [Decimal(m["amount"]) for m in sandbox.mints()] == [20]
