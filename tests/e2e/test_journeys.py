"""The product as readers and admins use it, in Chromium: every step is a click or
keystroke on a page, and every check is something a person would see."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from accounts.models import User
from campaigns.models import ShareCampaign
from campaigns.services import share_to_x
from posts.models import Post
from sandbox.testing import Sandbox
from social.models import XConnection
from tests.factories import PASSWORD, WALLET

pytestmark = pytest.mark.e2e


# How long the score task may take after a connect before a journey gives up on it.
SCORE_DEADLINE_SECONDS = 15


# --- What a person does --------------------------------------------------------------


def sign_up(page: Page, email: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_placeholder("Email address").fill(email)
    page.get_by_placeholder("Password", exact=True).fill(PASSWORD)
    page.get_by_placeholder("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def log_in(page: Page, email: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Log in").click()
    page.get_by_placeholder("Email address").fill(email)
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def save_wallet(page: Page, wallet: str) -> None:
    """On the settings page: enter the wallet address and save."""
    page.get_by_label("Wallet address").fill(wallet)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Your settings were saved.")


def open_post(page: Page, campaign: ShareCampaign) -> None:
    page.goto("/")
    page.get_by_role("link", name=campaign.post.title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(campaign.post.title)


def authorize_on_x(page: Page, sandbox: Sandbox, account: str) -> None:
    """On the sandbox's consent page: sign in as `account` and authorize."""
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "wants to access your X account"
    )
    page.locator(f"input[name='account'][value='{account}']").check()
    page.get_by_role("button", name="Authorize app").click()
    username = sandbox.account(account)["username"]
    expect(page.locator(".messages")).to_contain_text(
        f"X account @{username} connected successfully!"
    )


def campaign_box(page: Page) -> Locator:
    return page.locator("#campaign-box")


def retweet_and_like(page: Page) -> None:
    box = campaign_box(page)
    box.locator("summary", has_text="Retweet & Like").click()
    box.get_by_role("button", name=re.compile(r"^Retweet & Like · earn")).click()


def wait_until_score_is_ready(page: Page) -> None:
    """The score is computed by the worker after a connect; meanwhile the box says
    so, holds the share button back, and refreshes itself until the score is in."""
    expect(campaign_box(page).locator("summary")).to_be_visible(
        timeout=SCORE_DEADLINE_SECONDS * 1000
    )


def expected_reward(user_email: str, campaign: ShareCampaign) -> int:
    score = XConnection.objects.get(user__email=user_email).x_score
    assert score is not None and score > 1, "the persona's score shows in the amount"
    amount = Decimal(score) * campaign.bux_reward
    return int(amount.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


# --- Journeys ----------------------------------------------------------------------


def test_a_new_reader_connects_x_shares_and_earns(
    page: Page, sandbox: Sandbox, sandbox_campaign_factory: Callable[..., ShareCampaign]
) -> None:
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"))
    email = "rita@example.com"

    sign_up(page, email)
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Settings"
    ).click()
    save_wallet(page, WALLET)
    open_post(page, campaign)
    box = campaign_box(page)
    expect(box.get_by_role("heading")).to_have_text("Retweet & Like on X")
    expect(box.locator(".reward-amount")).to_have_text("+2 BUX × your X score")

    box.get_by_role("link", name="Connect X Account").click()
    authorize_on_x(page, sandbox, "reader")
    expect(page).to_have_url(re.compile(re.escape(campaign.post.get_absolute_url())))
    wait_until_score_is_ready(page)
    earned = expected_reward(email, campaign)
    expect(box.locator(".reward-amount")).to_have_text(f"+{earned} BUX")

    # A minter that takes a moment, as a chain does: the reader sees the mint going.
    sandbox.fault("POST /minter/mint", hang=1)
    retweet_and_like(page)
    expect(box.get_by_role("status")).to_have_text(
        f"Retweeted & Liked! You earned {earned} BUX!"
    )
    expect(box).to_contain_text("Minting your BUX…")
    expect(box.locator("[data-state=rewarded]")).to_contain_text(f"Earned {earned} BUX")
    mints = sandbox.mints()
    assert [(m["walletAddress"], Decimal(m["amount"])) for m in mints] == [
        (WALLET, earned)
    ]
    tx_url = f"https://explorer.example/tx/{mints[0]['transactionHash']}"
    expect(box.get_by_role("link", name="view transaction")).to_have_attribute(
        "href", tx_url
    )

    page.get_by_role("link", name="My profile").click()
    entry = page.locator(".activity-entry")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Retweeted & Liked")
    expect(entry.locator(".activity-amount")).to_have_text(f"+{earned} BUX")
    expect(entry.get_by_role("link", name=re.compile(r"^0x"))).to_have_attribute(
        "href", tx_url
    )


def test_a_reward_waits_for_a_wallet_and_mints_once_one_is_added(
    page: Page,
    sandbox: Sandbox,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
    connect_x: Callable[..., XConnection],
) -> None:
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"))
    reader = user_factory(email="walletless@example.com", display_name="Wes")
    connect_x(reader, "zero", score=10)

    log_in(page, reader.email)
    open_post(page, campaign)
    retweet_and_like(page)
    box = campaign_box(page)
    expect(box.get_by_role("status")).to_have_text(
        "Retweeted & Liked! You earned 20 BUX!"
    )
    expect(box).to_contain_text("Your BUX are waiting for a wallet address.")
    assert sandbox.mints() == []

    box.get_by_role("link", name="Add one in Settings").click()
    save_wallet(page, WALLET)

    open_post(page, campaign)
    expect(box.locator("[data-state=rewarded]")).to_contain_text("Earned 20 BUX")
    mints = sandbox.mints()
    assert [(m["walletAddress"], Decimal(m["amount"])) for m in mints] == [(WALLET, 20)]


def test_an_admin_starts_a_campaign_from_the_post_form_and_reads_its_statistics(
    page: Page,
    sandbox: Sandbox,
    staff: User,
    user_factory: Callable[..., User],
    post_factory: Callable[..., Post],
    connect_x: Callable[..., XConnection],
) -> None:
    post = post_factory(title="An admin's story", body="Worth a retweet.", author=staff)
    tweet = sandbox.create_tweet("Our new story")
    tweet_url = f"https://x.com/BlocksterCom/status/{tweet['id']}"

    page.goto("/admin/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("rowheader", name="Posts").get_by_role("link").click()
    page.get_by_role("link", name=post.title).click()
    page.get_by_role("textbox", name="Tweet URL").fill(tweet_url)
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.get_by_role("link", name="View on site").click()
    box = campaign_box(page)
    expect(box.get_by_role("heading")).to_have_text("Retweet & Like on X")
    expect(box.locator(".reward-amount")).to_have_text("+50 BUX × your X score")

    reader = user_factory(email="sharer@example.com", wallet_address=WALLET)
    connect_x(reader, "creator", score=75)
    outcome = share_to_x(reader, ShareCampaign.objects.get(post=post))
    assert outcome.ok, outcome.message

    page.goto("/admin/")
    page.get_by_role("rowheader", name="Share campaigns").get_by_role("link").click()
    row = page.get_by_role("row").filter(has_text=post.title)
    expect(row.locator(".field-places")).to_have_text("1 / ∞")
    expect(row.locator(".field-shares")).to_have_text("1")
    row.get_by_role("link", name=post.title).click()
    expect(page.locator(".field-total_shares .readonly")).to_have_text("1")
    statistics = page.locator("table.campaign-statistics")
    count = statistics.get_by_role("row", name="Total").get_by_role("cell")
    expect(count).to_have_text("1")


def test_a_reader_whose_x_session_expired_reconnects_and_shares(
    page: Page,
    sandbox: Sandbox,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
) -> None:
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"))
    reader = user_factory(email="lapsed@example.com", wallet_address=WALLET)

    log_in(page, reader.email)
    open_post(page, campaign)
    box = campaign_box(page)
    box.get_by_role("link", name="Connect X Account").click()
    authorize_on_x(page, sandbox, "creator")
    # Settled first, so the score task cannot meet the revoked tokens.
    wait_until_score_is_ready(page)
    sandbox.revoke_tokens("creator", kind="all")

    retweet_and_like(page)
    expect(box.get_by_role("status")).to_contain_text(
        "X session expired. Please reconnect your account."
    )
    box.get_by_role("link", name="Reconnect X Account").click()
    authorize_on_x(page, sandbox, "creator")
    expect(page).to_have_url(re.compile(re.escape(campaign.post.get_absolute_url())))
    # Reconnecting makes a new connection, whose score is computed afresh.
    wait_until_score_is_ready(page)
    earned = expected_reward(reader.email, campaign)

    retweet_and_like(page)
    expect(box.get_by_role("status")).to_have_text(
        f"Retweeted & Liked! You earned {earned} BUX!"
    )
    expect(box.locator("[data-state=rewarded]")).to_contain_text(f"Earned {earned} BUX")
    assert [Decimal(m["amount"]) for m in sandbox.mints()] == [earned]


@pytest.mark.usefixtures("confirm_shares")
def test_a_share_is_confirmed_on_x_before_it_is_minted(
    page: Page,
    sandbox: Sandbox,
    user_factory: Callable[..., User],
    sandbox_campaign_factory: Callable[..., ShareCampaign],
    connect_x: Callable[..., XConnection],
    settings: Any,
) -> None:
    campaign = sandbox_campaign_factory(bux_reward=Decimal("2"))
    reader = user_factory(email="confirmed@example.com", wallet_address=WALLET)
    connect_x(reader, "creator", score=10)
    # X's timeline shows the retweet only on the second look, a while later: the
    # reader sees the share being confirmed before anything is minted.
    sandbox.set_timeline_lag(1)
    settings.X_VERIFY_RETRY_SECONDS = 2

    log_in(page, reader.email)
    open_post(page, campaign)
    retweet_and_like(page)
    box = campaign_box(page)
    expect(box.get_by_role("status")).to_have_text(
        "Retweeted & Liked! Confirming on X…"
    )
    expect(box).to_contain_text("Checking that your retweet is on X")
    assert sandbox.mints() == []

    expect(box.locator("[data-state=rewarded]")).to_contain_text("Earned 20 BUX")
    assert [Decimal(m["amount"]) for m in sandbox.mints()] == [20]
    reads = sandbox.requests()["by_route"]["GET /2/users/:id/tweets"]
    assert reads["requests"] == 2
