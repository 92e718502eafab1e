"""What staff see and choose of the confirmation on X: a campaign's own policy,
and rewards filtered by the shared and undone states."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import ShareCampaign, ShareReward
from campaigns.policy import campaign_policy

Status = ShareReward.Status
REWARDS_URL = "/admin/campaigns/sharereward/"


def with_policy(campaign: ShareCampaign, policy: str) -> ShareCampaign:
    """The campaign's own policy, as staff set it in admin."""
    campaign.verify_shares = policy
    campaign.save(update_fields=["verify_shares"])
    return campaign


@pytest.mark.parametrize(
    ("override", "site", "percent"),
    [
        ("", "all", 100),
        ("", "sample:10", 10),
        ("off", "all", 0),
        ("sample:40", "off", 40),
    ],
)
def test_a_campaign_overrides_the_sites_policy(
    campaign_factory, settings, override, site, percent
):
    settings.X_VERIFY_SHARES = site
    campaign = with_policy(campaign_factory(), override)

    campaign.full_clean()

    assert campaign_policy(campaign).percent == percent


@pytest.mark.parametrize("override", ["sometimes", "sample:150", "sample"])
def test_an_override_that_is_no_policy_is_refused(campaign_factory, override):
    campaign = campaign_factory()
    campaign.verify_shares = override

    with pytest.raises(ValidationError) as refused:
        campaign.full_clean()

    (message,) = refused.value.message_dict["verify_shares"]
    assert message == (
        "Enter all, off, or sample:<percent> (sample:25 confirms one share in four), "
        "or leave empty for the site's setting."
    )


def test_the_campaign_form_offers_the_override(admin_client, campaign_factory):
    campaign = with_policy(campaign_factory(), "sample:25")

    page = admin_client.get(f"/admin/campaigns/sharecampaign/{campaign.pk}/change/")

    assert page.status_code == 200
    assert "Confirm retweets on X" in page.content.decode()
    assert page.context["adminform"].form["verify_shares"].value() == "sample:25"


@pytest.mark.parametrize("status", [Status.SHARED, Status.UNDONE])
def test_rewards_are_filtered_by_the_confirmation_states(
    admin_client, reward_factory, user_factory, campaign_factory, status
):
    campaign = campaign_factory()
    states: dict[str, dict[str, Any]] = {
        Status.SHARED: {"status": Status.SHARED, "shared_at": timezone.now()},
        Status.UNDONE: {
            "status": Status.UNDONE,
            "tx_hash": "0x" + "ab" * 32,
            "rewarded_at": timezone.now(),
            "audited_at": timezone.now(),
        },
        Status.REWARDED: {"rewarded": True},
    }
    rewards = {
        state: reward_factory(
            user_factory(email=f"{state}@example.com"), campaign, **fields
        )
        for state, fields in states.items()
    }

    page = admin_client.get(REWARDS_URL, {"status__exact": status})

    listed = {reward.pk for reward in page.context["cl"].result_list}
    assert listed == {rewards[status].pk}
    assert f"{status}@example.com" in page.content.decode()
