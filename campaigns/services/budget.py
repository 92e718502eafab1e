"""What a share costs a campaign, and the campaign's limits counted together: the
places and the BUX held by its rewards (PLACE_HOLDING: claims in flight, shares on
their way to the mint, minted shares), the alerts at ALERT_THRESHOLDS, and closing a
campaign whose budget cannot pay one more reward.

The claim (claim.py) reads the usage under the campaign's row lock, so the budget
holds however many readers press at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from blockster.queueing import send_task_or_log
from rewards.amounts import reward_for

from ..models import (
    ALERT_THRESHOLDS,
    PLACE_HOLDING,
    CampaignAlert,
    ShareCampaign,
    ShareReward,
)

logger = logging.getLogger(__name__)

# Sent by name: campaigns.tasks imports these services.
SEND_CAMPAIGN_ALERT_TASK = "campaigns.tasks.send_campaign_alert_task"

BUDGET_SPENT_MESSAGE = "This campaign's BUX budget is used up."


def reward_amount(campaign: ShareCampaign, multiplier: int) -> Decimal:
    """The campaign's reward at this multiplier (rewards.amounts.reward_for)."""
    return reward_for(campaign.bux_reward, multiplier)


def minimum_reward(campaign: ShareCampaign) -> Decimal:
    """The least one share pays: the base reward at the lowest X score."""
    return reward_amount(campaign, 1)


@dataclass(frozen=True)
class CampaignUsage:
    places: int
    bux_held: Decimal

    def budget_left(self, campaign: ShareCampaign) -> Decimal | None:
        if campaign.bux_budget is None:
            return None
        return max(campaign.bux_budget - self.bux_held, Decimal("0"))

    def can_pay(self, campaign: ShareCampaign, amount: Decimal) -> bool:
        left = self.budget_left(campaign)
        return left is None or amount <= left


def campaign_usage(campaign: ShareCampaign) -> CampaignUsage:
    """Places taken and BUX held, in one query; nothing is counted for a campaign
    without limits."""
    if campaign.max_participants is None and campaign.bux_budget is None:
        return CampaignUsage(0, Decimal("0"))
    totals = ShareReward.objects.filter(
        campaign_id=campaign.pk, status__in=PLACE_HOLDING
    ).aggregate(places=Count("user", distinct=True), bux=Sum("bux_rewarded"))
    return CampaignUsage(totals["places"], totals["bux"] or Decimal("0"))


def is_budget_spent(campaign: ShareCampaign, usage: CampaignUsage) -> bool:
    """Less than one minimum reward is left."""
    return not usage.can_pay(campaign, minimum_reward(campaign))


def note_claim(
    campaign: ShareCampaign,
    before: CampaignUsage,
    *,
    amount: Decimal,
    new_place: bool = True,
) -> None:
    """After a claim, inside its transaction and under the campaign's lock: record
    the thresholds it crossed (mailed after commit), and close a campaign that asked
    to when its budget cannot pay another reward. `new_place` is False for a reader
    who already held a place (a share of another of the campaign's tweets)."""
    after = CampaignUsage(before.places + new_place, before.bux_held + amount)
    limits = (
        (CampaignAlert.Measure.PLACES, campaign.max_participants, "places"),
        (CampaignAlert.Measure.BUDGET, campaign.bux_budget, "bux_held"),
    )
    for measure, limit, field in limits:
        if limit is None:
            continue
        was, now = getattr(before, field) * 100, getattr(after, field) * 100
        for threshold in ALERT_THRESHOLDS:
            if was < threshold * limit <= now:
                _raise_alert(campaign, measure, threshold)
    if campaign.close_when_spent and is_budget_spent(campaign, after):
        ShareCampaign.objects.filter(pk=campaign.pk, is_active=True).update(
            is_active=False, updated_at=timezone.now()
        )
        logger.info("campaign %s closed itself: its budget is spent", campaign.pk)


def _raise_alert(campaign: ShareCampaign, measure: str, threshold: int) -> None:
    alert, created = CampaignAlert.objects.get_or_create(
        campaign=campaign, measure=measure, threshold=threshold
    )
    if created:
        transaction.on_commit(lambda: _send_alert(alert.pk))


def _send_alert(alert_id: int) -> None:
    send_task_or_log(SEND_CAMPAIGN_ALERT_TASK, alert_id, catch_up="it shows in admin")


def mail_campaign_alert(alert_id: int) -> bool:
    """Mail ADMINS about the alert, once: True when this call sent it."""
    now = timezone.now()
    if not CampaignAlert.objects.filter(pk=alert_id, mailed_at__isnull=True).update(
        mailed_at=now
    ):
        return False
    alert = CampaignAlert.objects.select_related("campaign__post").get(pk=alert_id)
    campaign = alert.campaign
    usage = campaign_usage(campaign)
    if alert.measure == CampaignAlert.Measure.BUDGET:
        figures = f"{usage.bux_held} of {campaign.bux_budget} BUX held or paid"
    else:
        figures = f"{usage.places} of {campaign.max_participants} places taken"
    link = settings.SITE_URL.rstrip("/") + reverse(
        "admin:campaigns_sharecampaign_dashboard", args=(campaign.pk,)
    )
    try:
        mail_admins(
            f"Campaign “{campaign.post.title}” reached {alert.threshold}% of its "
            f"{alert.get_measure_display().lower()}",
            f"{figures}.\n\nDashboard: {link}\n",
        )
    except Exception:
        # Not sent: let the task's retry send it.
        CampaignAlert.objects.filter(pk=alert_id, mailed_at=now).update(mailed_at=None)
        raise
    return True
