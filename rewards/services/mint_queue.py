"""Putting a mint on the queue, and the lease a sent mint request holds."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)

# The mint task is sent by name: rewards.tasks imports the services it runs, so the
# services cannot import it back.
MINT_BUX_TASK = "rewards.tasks.mint_bux_task"


def request_mint(reward_id: int) -> bool:
    """Queue the mint; a broker outage is logged and left to the sweeper."""
    try:
        # No one reads its result: sent without subscribing to it on the backend.
        current_app.send_task(MINT_BUX_TASK, args=(reward_id,), ignore_result=True)
    except Exception as error:  # kombu raises several types for a dead broker
        logger.warning(
            "mint of reward %s not queued (%s); the sweeper will queue it",
            reward_id,
            type(error).__name__,
        )
        return False
    return True


def lease_expired_before() -> datetime:
    """A mint request sent before this, with no answer recorded, is taken as lost."""
    return timezone.now() - timedelta(seconds=settings.BUX_MINT_LEASE_SECONDS)


def unclaimed() -> Q:
    """Rewards no mint request holds: never claimed, or (with an idempotent minter)
    claimed by a request whose lease ran out."""
    condition = Q(mint_started_at__isnull=True)
    if settings.BUX_MINTER_IDEMPOTENT:
        # A lost attempt can be repeated with the same key: the minter answers it
        # with the first result instead of minting again.
        condition |= Q(mint_started_at__lt=lease_expired_before())
    return condition
