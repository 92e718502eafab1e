"""A reader saved a wallet address: what waited for one is minted."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.utils import timezone

from campaigns.models import ShareReward

from ..mirror.write import sync_after_commit
from .mint_queue import request_mint


def queue_rewards_waiting_for_wallet(user_id: int) -> int:
    """After the user saves a wallet: mint what was waiting for one (none, or one
    the minter refused). Returns how many rewards are now being minted."""
    waiting = ShareReward.objects.filter(
        user_id=user_id,
        status=ShareReward.Status.VERIFIED,
        mint_started_at__isnull=True,
        needs_operator=False,
    )
    with transaction.atomic():
        rewards = list(
            waiting.only("pk", "user_id", "campaign_id", "campaign_tweet_id")
        )
        waiting.filter(
            pk__in=[reward.pk for reward in rewards], waiting_for_wallet=True
        ).update(waiting_for_wallet=False, failure_reason="", updated_at=timezone.now())
        for reward in rewards:
            sync_after_commit(reward)
            transaction.on_commit(partial(request_mint, reward.pk))
    return len(rewards)
