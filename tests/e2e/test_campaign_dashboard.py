"""An operator reads a campaign's dashboard in Chromium after readers shared: the
charts are drawn, their tables and figures add up to what happened, and the page
keeps the site's Content-Security-Policy. The screenshot is kept as an artifact."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from campaigns.models import ShareCampaign, ShareReward
from campaigns.services import share_to_x
from sandbox.testing import Sandbox
from social.models import XConnection
from tests.e2e.conftest import artifacts_dir
from tests.e2e.test_journeys import campaign_box, log_in, open_post, retweet_and_like
from tests.factories import PASSWORD, WALLET

pytestmark = pytest.mark.e2e


def x_cost_of_shares(sandbox: Sandbox) -> str:
    """What the sandbox billed for retweets and likes, as the dashboard writes it."""
    routes = sandbox.requests()["by_route"]
    cost = sum(
        Decimal(total["cost_usd"])
        for route, total in routes.items()
        if route.endswith(("/retweets", "/likes"))
    )
    return f"${cost:.6f}"


def test_an_operator_reads_the_dashboard_of_a_campaign_readers_shared(
    page: Page,
    settings,
    sandbox: Sandbox,
    staff: User,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
    connect_x: Callable[..., XConnection],
    wait_for,
) -> None:
    settings.X_VERIFY_SHARES = "off"  # minted on X's answer: no confirmation wait
    campaign = sandbox_campaign_factory(
        bux_reward=Decimal("2"), bux_budget=Decimal("1000")
    )
    scores = {"rita@example.com": 10, "sam@example.com": 25, "cleo@example.com": 75}
    readers = [user_factory(email=email, wallet_address=WALLET) for email in scores]
    for reader, score in zip(readers, scores.values(), strict=True):
        connect_x(reader, score=score)
    # One reader in the browser (a box view and a press), two from the service.
    log_in(page, readers[0].email)
    open_post(page, campaign)
    retweet_and_like(page)
    expect(campaign_box(page).get_by_role("status")).to_contain_text("You earned")
    for reader in readers[1:]:
        assert share_to_x(reader, campaign).ok
    assert wait_for(
        lambda: ShareReward.objects.filter(status="rewarded").count() == 3
    ), "the worker mints the three rewards"
    paid = 20 + 50 + 150  # 2 BUX × each reader's score

    page.get_by_role("button", name="Log out").click()
    page.goto("/admin/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("rowheader", name="Share campaigns").get_by_role("link").click()
    row = page.get_by_role("row").filter(has_text=campaign.post.title)
    expect(row.locator(".budget-figures")).to_have_text(f"{paid} / 1,000 BUX (22%)")
    row.get_by_role("link", name="Dashboard").click()

    figures = page.locator("#figures")
    expect(figures.locator("[data-figure=shares]")).to_have_text("3")
    expect(figures.locator("[data-figure=rewarded]")).to_have_text("3")
    expect(figures.locator("[data-figure=bux-paid]")).to_have_text(str(paid))
    expect(figures.locator("[data-figure=minted-to-date]")).to_have_text(
        f"{paid} / 1,000"
    )
    # X spend is what the sandbox billed for this campaign's retweets and likes.
    expect(figures.locator("[data-figure=x-spend]")).to_have_text(
        x_cost_of_shares(sandbox)
    )
    shares = page.locator("#chart-shares")
    expect(shares.locator("svg rect.bar.s-rewarded")).to_have_count(1)
    expect(shares.locator("summary")).to_have_text("Table: 3 shares")
    expect(page.locator("#chart-minted svg polyline.line")).to_be_visible()
    expect(page.locator("#chart-minted svg line.limit")).to_have_count(1)
    expect(page.locator("#chart-scores svg rect.bar")).to_have_count(3)
    funnel = page.locator("#chart-funnel")
    funnel.locator("summary").click()
    steps = [funnel.locator(f"[data-step='{n}']") for n in range(1, 5)]
    for step, count in zip(steps, (1, 1, 3, 3), strict=True):
        expect(step).to_have_text(str(count))
    page.locator("#chart-shares summary").click()
    expect(shares.locator("table tbody tr")).to_have_count(1)

    directory = artifacts_dir()
    directory.mkdir(parents=True, exist_ok=True)
    screenshot = directory / "campaign-dashboard.png"
    screenshot.unlink(missing_ok=True)  # the one kept is this run's
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 0
