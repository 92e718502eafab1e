"""What every admin page tells operators: sharing paused across the site, and
campaigns that recently reached 80% or 100% of their budget or places."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django import template
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignAlert
from social.spend import current_sharing_pause

register = template.Library()

# How long a campaign alert stays on every admin page.
ALERT_NOTICE_DAYS = 3


@dataclass(frozen=True)
class Notice:
    level: str
    text: str
    url: str = ""
    link_text: str = ""


@register.simple_tag
def operator_notices() -> list[Notice]:
    notices = []
    pause = current_sharing_pause()
    if pause is not None:
        notices.append(
            Notice(
                "error",
                f"Sharing is paused across the site since "
                f"{pause.paused_at:%Y-%m-%d %H:%M} UTC: {pause.get_reason_display()}"
                + (f" ({pause.detail})." if pause.detail else "."),
                reverse("admin:social_sharingpause_changelist") + "?active__exact=1",
                "Resume sharing",
            )
        )
    since = timezone.now() - timedelta(days=ALERT_NOTICE_DAYS)
    alerts = CampaignAlert.objects.filter(created_at__gte=since).select_related(
        "campaign__post"
    )
    for alert in alerts[:10]:
        notices.append(
            Notice(
                "warning",
                f"“{alert.campaign.post.title}” reached {alert.threshold}% of its "
                f"{alert.get_measure_display().lower()}.",
                reverse(
                    "admin:campaigns_sharecampaign_dashboard", args=(alert.campaign_id,)
                ),
                "Dashboard",
            )
        )
    return notices
