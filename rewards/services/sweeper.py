"""The sweeper (beat, every minute): no verified reward is left without a mint on its
way or an operator told."""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import ShareReward

from .mint_queue import request_mint, unclaimed
from .operator_queue import flag_stranded, stranded_rewards

# A reward left alone this long with no mint queued is re-queued by the sweeper.
SWEEP_QUIET = timedelta(seconds=60)
# Rewards handled per run: a backlog is worked off over several runs.
SWEEP_BATCH = 1000


class SweepResult(TypedDict):
    flagged: int
    queued: int


def rewards_to_sweep() -> QuerySet[ShareReward]:
    """Verified rewards that should be minting and have no mint queued or running."""
    return ShareReward.objects.filter(
        unclaimed(),
        status=ShareReward.Status.VERIFIED,
        needs_operator=False,
        waiting_for_wallet=False,
        mint_attempts__lt=settings.BUX_MINT_MAX_ATTEMPTS,
        updated_at__lt=timezone.now() - SWEEP_QUIET,
    ).order_by("pk")


def sweep_rewards() -> SweepResult:
    """Put stranded mints in the operator queue, and re-queue verified rewards with
    no mint in flight."""
    flagged = sum(flag_stranded(reward) for reward in stranded_rewards()[:SWEEP_BATCH])
    queued = 0
    for reward_id in rewards_to_sweep().values_list("pk", flat=True)[:SWEEP_BATCH]:
        queued += request_mint(reward_id)
    return {"flagged": flagged, "queued": queued}
