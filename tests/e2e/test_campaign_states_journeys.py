"""A campaign's tweet drawn as our own card, and a scheduled campaign whose box opens
by itself, as a person sees them in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from campaigns.models import ShareCampaign
from posts.models import Post
from sandbox.testing import Sandbox
from social.models import XConnection
from tests.e2e.test_journeys import campaign_box, log_in, open_post
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


def test_an_admin_adds_a_tweet_and_readers_see_it_drawn_as_a_card(
    page: Page,
    sandbox: Sandbox,
    staff: User,
    post_factory: Callable[..., Post],
) -> None:
    post = post_factory(title="The wallet guide", body="Keys, seeds.", author=staff)
    tweet = sandbox.create_tweet(
        "Our wallet guide is out: https://blockster.com/guide", author="creator"
    )

    page.goto("/admin/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/admin/posts/post/{post.pk}/change/")
    page.get_by_role("textbox", name="Tweet URL").fill(
        "https://x.com/BlocksterCom/status/1999999999999999999"
    )
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".errorlist")).to_contain_text(
        "X does not show this post to the public"
    )
    tweet_url = f"https://x.com/BlocksterCom/status/{tweet['id']}"
    page.get_by_role("textbox", name="Tweet URL").fill(tweet_url)
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.goto("/")
    expect(page.locator(".post-card", has_text=post.title)).to_contain_text(
        "Earn up to 5,000 BUX"  # the base 50 at the best X score
    )
    page.get_by_role("link", name=post.title).click()
    card = campaign_box(page).locator(".tweet-card")
    expect(card).to_contain_text("Mo | Chain Builder @chainbuilder_mo")
    expect(card.locator("blockquote")).to_have_text(
        "Our wallet guide is out: https://blockster.com/guide"
    )
    link = card.locator("blockquote a")
    expect(link).to_have_attribute("href", "https://blockster.com/guide")
    expect(card.get_by_role("link", name="View on X")).to_have_attribute(
        "href", tweet_url
    )
    assert page.locator("iframe").count() == 0


def test_a_scheduled_campaign_opens_in_the_readers_box_without_a_reload(
    page: Page,
    sandbox: Sandbox,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
    connect_x: Callable[..., XConnection],
) -> None:
    opens_at = timezone.now() + timedelta(seconds=4)
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"), starts_at=opens_at)
    reader = user_factory(email="early@example.com")
    connect_x(reader, "creator", score=40)

    log_in(page, reader.email)
    open_post(page, campaign)
    box = campaign_box(page)
    expect(box.locator("[data-state=scheduled]")).to_contain_text(
        f"Opens {opens_at:%a} {opens_at.day} {opens_at:%b}, {opens_at:%H:%M} UTC"
    )
    expect(box.locator(".reward-amount")).to_contain_text("+80 BUX")

    # No reload: the box asks again when the campaign opens.
    expect(box.locator("summary")).to_have_text("Retweet & Like")
    expect(box.locator("[data-state=scheduled]")).to_have_count(0)
