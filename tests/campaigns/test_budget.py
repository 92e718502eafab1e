"""A campaign's BUX budget: held by claims in flight, shares on their way to the
mint and minted shares; never overrun, however many readers press at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections
from django.db.models import Sum

from campaigns.models import PLACE_HOLDING, CampaignAlert, ShareCampaign, ShareReward
from campaigns.services import create_pending_reward, share_to_x
from campaigns.services.budget import BUDGET_SPENT_MESSAGE, mail_campaign_alert
from campaigns.services.claim import BudgetSpent


def test_a_reward_that_would_overrun_the_budget_is_refused(
    reader, other_user, campaign_factory, connection_factory, reward_factory
):
    campaign = campaign_factory(bux_budget=Decimal("1000"))
    reward_factory(other_user, campaign, rewarded=True, bux_rewarded=Decimal("900"))
    connection = connection_factory(reader)

    with pytest.raises(BudgetSpent) as refused:
        create_pending_reward(reader, campaign, connection, amount=Decimal("101"))

    assert refused.value.user_message == "This campaign's BUX budget is used up."
    assert not ShareReward.objects.filter(user=reader).exists()
    # What is left still pays a reward that fits.
    create_pending_reward(reader, campaign, connection, amount=Decimal("100"))


def test_claims_in_flight_and_unminted_shares_hold_the_budget_failed_ones_do_not(
    user_factory, reader, campaign_factory, connection_factory, reward_factory
):
    campaign = campaign_factory(bux_budget=Decimal("600"))
    for trait in ("verified", "rewarded", "failed"):
        reward_factory(
            user_factory(), campaign, bux_rewarded=Decimal("150"), **{trait: True}
        )
    reward_factory(user_factory(), campaign, bux_rewarded=Decimal("150"))  # pending
    connection = connection_factory(reader)

    with pytest.raises(BudgetSpent):
        create_pending_reward(reader, campaign, connection, amount=Decimal("151"))
    create_pending_reward(reader, campaign, connection, amount=Decimal("150"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast_retries")
def test_a_hundred_readers_racing_for_the_last_of_the_budget_never_overrun_it(
    settings,
    user_factory,
    other_user,
    sandbox_campaign_factory,
    reward_factory,
    connect_x,
    sandbox,
):
    settings.X_VERIFY_SHARES = "off"  # verified on X's answer: counted at once
    # Base 2 BUX at score 10: 20 BUX a share; 200 BUX are left, so ten shares fit.
    campaign = sandbox_campaign_factory(bux_budget=Decimal("1000"))
    reward_factory(other_user, campaign, rewarded=True, bux_rewarded=Decimal("800"))
    readers = [user_factory() for _ in range(100)]
    for reader in readers:
        connect_x(reader, score=10)
    barrier = threading.Barrier(20)

    def attempt(reader):
        try:
            if readers.index(reader) < 20:
                barrier.wait()  # the first wave starts together
            return share_to_x(reader, campaign)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, readers))

    held = ShareReward.objects.filter(
        campaign=campaign, status__in=PLACE_HOLDING
    ).aggregate(bux=Sum("bux_rewarded"))["bux"]
    assert held == Decimal("1000")
    assert sum(outcome.ok for outcome in outcomes) == 10
    assert ShareCampaign.objects.get(pk=campaign.pk).total_shares == 10
    assert len(sandbox.retweets()) == 10
    assert {o.message for o in outcomes if not o.ok} == {BUDGET_SPENT_MESSAGE}


def test_the_box_shows_a_spent_campaign(
    client,
    reader,
    other_user,
    campaign_factory,
    connection_factory,
    reward_factory,
    page_text,
):
    campaign = campaign_factory(bux_budget=Decimal("100"), bux_reward=Decimal("2"))
    reward_factory(other_user, campaign, verified=True, bux_rewarded=Decimal("99"))
    connection_factory(reader, score=50)  # 100 BUX a share: 1 is left
    client.force_login(reader)

    text = page_text(client.get(campaign.post.get_absolute_url()))

    assert BUDGET_SPENT_MESSAGE in text
    assert "Retweet & Like ·" not in text


def test_a_campaign_that_asked_to_closes_itself_when_less_than_a_minimum_reward_is_left(
    reader, other_user, campaign_factory, connection_factory, reward_factory
):
    # The least a share pays is the base, 2 BUX; 1 BUX is left after this claim.
    campaign = campaign_factory(
        bux_budget=Decimal("100"), bux_reward=Decimal("2"), close_when_spent=True
    )
    reward_factory(other_user, campaign, rewarded=True, bux_rewarded=Decimal("59"))
    create_pending_reward(
        reader, campaign, connection_factory(reader), amount=Decimal("40")
    )

    assert not ShareCampaign.objects.get(pk=campaign.pk).is_active


def test_a_campaign_with_budget_left_stays_open(
    reader, campaign_factory, connection_factory
):
    campaign = campaign_factory(
        bux_budget=Decimal("100"), bux_reward=Decimal("2"), close_when_spent=True
    )
    create_pending_reward(
        reader, campaign, connection_factory(reader), amount=Decimal("40")
    )

    assert ShareCampaign.objects.get(pk=campaign.pk).is_active


def test_staff_are_told_once_at_80_and_100_percent_of_the_budget_and_places(
    settings,
    user_factory,
    campaign_factory,
    connection_factory,
    mailoutbox,
    admin_client,
    page_text,
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    campaign = campaign_factory(bux_budget=Decimal("100"), max_participants=5)
    for _ in range(4):
        reader = user_factory()
        create_pending_reward(
            reader, campaign, connection_factory(reader), amount=Decimal("20")
        )

    alerts = {(a.measure, a.threshold) for a in CampaignAlert.objects.all()}
    assert alerts == {("budget", 80), ("places", 80)}
    reader = user_factory()
    create_pending_reward(
        reader, campaign, connection_factory(reader), amount=Decimal("20")
    )
    made = CampaignAlert.objects.filter(campaign=campaign)
    assert {(a.measure, a.threshold) for a in made} == {
        ("budget", 80),
        ("places", 80),
        ("budget", 100),
        ("places", 100),
    }

    budget_full = made.get(measure="budget", threshold=100)
    notices = page_text(admin_client.get("/admin/"))
    assert f"“{campaign.post.title}” reached 100% of its bux budget." in notices
    assert mail_campaign_alert(budget_full.pk)
    assert not mail_campaign_alert(budget_full.pk)  # once
    (mail,) = mailoutbox
    assert mail.to == ["ops@example.com"]
    assert "reached 100% of its bux budget" in mail.subject
    assert "100.00 of 100.00 BUX held or paid" in mail.body
    assert f"/admin/campaigns/sharecampaign/{campaign.pk}/dashboard/" in mail.body


def test_admin_shows_the_budget_used_as_a_bar(
    admin_client, other_user, campaign_factory, reward_factory, page_text
):
    campaign = campaign_factory(bux_budget=Decimal("1000"))
    reward_factory(other_user, campaign, rewarded=True, bux_rewarded=Decimal("250"))

    listing = admin_client.get("/admin/campaigns/sharecampaign/")
    form = admin_client.get(f"/admin/campaigns/sharecampaign/{campaign.pk}/change/")

    for response in (listing, form):
        assert 'class="budget-bar"' in response.content.decode()
        assert "250 / 1,000 BUX (25%)" in page_text(response)
