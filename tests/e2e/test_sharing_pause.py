"""X runs out of credits in the middle of a campaign, in Chromium: the reader who
pressed is told sharing is paused, so is every reader after, operators get a mail and
a banner on every admin page, and once an operator resumes sharing readers earn
again."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from campaigns.models import ShareCampaign
from sandbox.testing import Sandbox
from social.models import SharingPause, XConnection
from social.spend import SHARING_PAUSED_MESSAGE
from tests.e2e.test_journeys import campaign_box, log_in, open_post, retweet_and_like
from tests.factories import PASSWORD, WALLET

pytestmark = pytest.mark.e2e


def test_a_402_from_x_pauses_sharing_until_an_operator_resumes_it(
    page: Page,
    settings,
    sandbox: Sandbox,
    staff: User,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
    connect_x: Callable[..., XConnection],
    mailoutbox,
    wait_for,
) -> None:
    settings.X_VERIFY_SHARES = "off"  # minted on X's answer: no confirmation wait
    settings.ADMINS = [("Ops", "ops@example.com")]
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"))
    first, second = (
        user_factory(email=email, wallet_address=WALLET)
        for email in ("rita@example.com", "sam@example.com")
    )
    for reader in (first, second):
        connect_x(reader, score=10)
    sandbox.fault("POST /2/users/:id/retweets", status=402)  # CreditsDepleted

    log_in(page, first.email)
    open_post(page, campaign)
    retweet_and_like(page)
    expect(campaign_box(page).get_by_role("status")).to_have_text(
        SHARING_PAUSED_MESSAGE
    )
    assert sandbox.retweets() == []
    assert wait_for(lambda: len(mailoutbox) == 1), "ADMINS are mailed"
    assert mailoutbox[0].to == ["ops@example.com"]
    assert "X credits depleted (402)" in mailoutbox[0].subject

    # The next reader finds the box paused, without a button to press.
    page.get_by_role("button", name="Log out").click()
    log_in(page, second.email)
    open_post(page, campaign)
    box = campaign_box(page)
    expect(box).to_contain_text(SHARING_PAUSED_MESSAGE)
    expect(box.get_by_role("button", name="Retweet & Like")).to_have_count(0)

    # The operator sees the banner on every admin page and resumes from it.
    page.get_by_role("button", name="Log out").click()
    page.goto("/admin/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    banner = page.locator(".operator-notices li.error")
    expect(banner).to_contain_text("Sharing is paused across the site")
    expect(banner).to_contain_text("X credits depleted (402)")
    banner.get_by_role("link", name="Resume sharing").click()
    page.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("resume")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Sharing resumed.")
    expect(page.locator(".operator-notices")).to_have_count(0)
    assert not SharingPause.objects.filter(active=True).exists()

    # X has its credits again: the reader earns.
    page.context.clear_cookies()  # the operator's session ends
    log_in(page, second.email)
    open_post(page, campaign)
    retweet_and_like(page)
    expect(campaign_box(page).get_by_role("status")).to_contain_text(
        "You earned 20 BUX"
    )
    assert len(sandbox.retweets()) == 1
