"""The operator queue: mints nobody will finish without a person, and what an
operator does with them (retry, close as failed; recording a mint found at the
minter is `mark_rewarded`)."""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from campaigns.models import ShareReward

from ..mirror.write import sync_after_commit
from ..reasons import failure_reason
from .mint_queue import lease_expired_before, request_mint

logger = logging.getLogger(__name__)

Status = ShareReward.Status
CHECK_MINTER = "Check the minter's records before retrying: it may have minted."
RETRY_IS_SAFE = (
    "Retrying is safe: the minter answers a repeated key with its first result."
)
NOTHING_MINTED = "Nothing was minted: retry once the cause is fixed."


def _stranded_reason(reward: ShareReward) -> tuple[str, str] | None:
    """Why nobody will mint this reward without an operator, and what the operator
    should do; None if something still will (a mint in flight within its lease, or
    a retry to come)."""
    attempts = reward.mint_attempts
    out_of_attempts = attempts >= settings.BUX_MINT_MAX_ATTEMPTS
    if reward.mint_started_at is None:
        if out_of_attempts and not reward.waiting_for_wallet:
            previous = reward.failure_reason or "no answer recorded"
            return f"Minting stopped after {attempts} attempts ({previous}).", (
                CHECK_MINTER
            )
        return None
    if reward.mint_started_at >= lease_expired_before():
        return None
    lost = (
        f"A mint request got no answer within {settings.BUX_MINT_LEASE_SECONDS} s "
        "(its worker stopped or lost its connection)."
    )
    if not settings.BUX_MINTER_IDEMPOTENT:
        return lost, CHECK_MINTER
    if out_of_attempts:
        return f"{lost} No attempts left after {attempts}.", RETRY_IS_SAFE
    return None


def flag_stranded(reward: ShareReward) -> bool:
    """Put a reward nobody will mint in the operator queue; False if it is not
    stranded, or changed meanwhile."""
    stranded = _stranded_reason(reward)
    if stranded is None:
        return False
    reason = failure_reason(stranded[0], advice=stranded[1])
    with transaction.atomic():
        updated = ShareReward.objects.filter(
            pk=reward.pk,
            status=Status.VERIFIED,
            needs_operator=False,
            mint_started_at=reward.mint_started_at,
            mint_attempts=reward.mint_attempts,
        ).update(needs_operator=True, failure_reason=reason, updated_at=timezone.now())
        if updated:
            sync_after_commit(reward)
    if updated:
        logger.error("reward %s needs an operator: %s", reward.pk, reason)
    return updated == 1


def stranded_rewards() -> QuerySet[ShareReward]:
    """Candidates for the operator queue: a lease that ran out with no answer, or no
    attempts left (`_stranded_reason` decides each)."""
    return ShareReward.objects.filter(
        Q(mint_started_at__lt=lease_expired_before())
        | Q(
            mint_started_at__isnull=True,
            mint_attempts__gte=settings.BUX_MINT_MAX_ATTEMPTS,
            waiting_for_wallet=False,
        ),
        status=Status.VERIFIED,
        needs_operator=False,
    ).order_by("pk")


def _no_mint_in_flight(reward: ShareReward) -> QuerySet[ShareReward]:
    """The reward, if verified with no mint in flight. A reward flagged for an
    operator keeps its unanswered mint's stamp; the operator acting on it has
    checked the minter's records."""
    return ShareReward.objects.filter(pk=reward.pk, status=Status.VERIFIED).filter(
        Q(mint_started_at__isnull=True) | Q(needs_operator=True)
    )


def retry_minting(reward: ShareReward) -> bool:
    """An operator's retry: clear the attempt count and any operator flag, then queue.

    Only for a verified reward with no mint in flight; an operator who clears a
    `needs_operator` flag has checked that the earlier request did not mint.
    """
    with transaction.atomic():
        updated = _no_mint_in_flight(reward).update(
            mint_attempts=0,
            needs_operator=False,
            waiting_for_wallet=False,
            mint_started_at=None,
            failure_reason="",
            updated_at=timezone.now(),
        )
        if updated:
            sync_after_commit(reward)
            transaction.on_commit(partial(request_mint, reward.pk))
    return updated == 1


def mark_failed(reward: ShareReward, reason: str) -> bool:
    """An operator's decision that a reward will not be minted (verified → failed)."""
    with transaction.atomic():
        updated = _no_mint_in_flight(reward).update(
            status=Status.FAILED,
            failure_reason=failure_reason(reason),
            needs_operator=False,
            updated_at=timezone.now(),
        )
        if updated:
            sync_after_commit(reward)
    return updated == 1
