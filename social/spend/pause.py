"""Sharing paused across the site: X answered 402 CreditsDepleted, or the day's X
spend passed X_DAILY_SPEND_LIMIT_USD. Readers see SHARING_PAUSED_MESSAGE instead of
the Retweet & Like button; ADMINS get a mail and admin shows a banner until an
operator resumes sharing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from decimal import Decimal

from django.conf import settings
from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from blockster.queueing import send_task_or_log

from ..models import SharingPause

logger = logging.getLogger(__name__)

# Sent by name: social.tasks imports these services.
MAIL_SHARING_PAUSED_TASK = "social.tasks.mail_sharing_paused_task"

SHARING_PAUSED_MESSAGE = (
    "Sharing is paused for now: X is not taking our requests. Our team has been "
    "told; please come back later to earn BUX."
)


def current_sharing_pause() -> SharingPause | None:
    return SharingPause.objects.filter(active=True).first()


def pause_sharing(reason: str, *, detail: str = "") -> SharingPause | None:
    """Pause sharing, unless it is paused already; the new pause, or None."""
    try:
        with transaction.atomic():
            pause = SharingPause.objects.create(reason=reason, detail=detail)
            transaction.on_commit(lambda: _mail_operators(pause.pk))
    except IntegrityError:
        return None  # another request paused it first: one alert is enough
    logger.error("sharing paused across the site: %s (%s)", reason, detail)
    return pause


def pause_for_daily_limit(*, spent: Decimal, limit: Decimal) -> SharingPause | None:
    """Once a day: an operator who resumed sharing after the limit was passed has
    accepted the rest of the day's spend."""
    today = datetime.combine(timezone.now().date(), time.min, tzinfo=UTC)
    if SharingPause.objects.filter(
        reason=SharingPause.Reason.DAILY_LIMIT, paused_at__gte=today
    ).exists():
        return None
    return pause_sharing(
        SharingPause.Reason.DAILY_LIMIT,
        detail=f"${spent} spent on X today, over the ${limit} limit",
    )


def resume_sharing(pause: SharingPause, *, by: User) -> bool:
    """An operator ends the pause; False when it had already ended."""
    return (
        SharingPause.objects.filter(pk=pause.pk, active=True).update(
            active=False, resumed_at=timezone.now(), resumed_by=by
        )
        == 1
    )


def _mail_operators(pause_id: int) -> None:
    send_task_or_log(MAIL_SHARING_PAUSED_TASK, pause_id, catch_up="admin shows it")


def mail_sharing_paused(pause_id: int) -> None:
    pause = SharingPause.objects.get(pk=pause_id)
    link = settings.SITE_URL.rstrip("/") + reverse(
        "admin:social_sharingpause_changelist"
    )
    mail_admins(
        f"Sharing paused: {pause.get_reason_display()}",
        f"{pause.detail or pause.get_reason_display()}.\n\n"
        "Readers cannot share until an operator resumes sharing: top up X's "
        f"credits or raise the limit, then resume it here: {link}\n",
    )
