"""Putting a mint on the queue, and the lease a sent mint request holds."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from blockster.queueing import send_task_or_log

# The mint task is sent by name: rewards.tasks imports the services it runs, so the
# services cannot import it back.
MINT_BUX_TASK = "rewards.tasks.mint_bux_task"


def request_mint(reward_id: int) -> bool:
    """Queue the mint; a broker outage is logged and left to the sweeper."""
    return send_task_or_log(
        MINT_BUX_TASK, reward_id, catch_up="the sweeper will queue it"
    )


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
