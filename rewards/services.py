"""Minting BUX for verified share rewards, at most once per reward.

A reward is claimed for minting by a conditional UPDATE that stamps mint_started_at;
the minter is called outside any transaction; the answer moves the reward to rewarded
(or records why not). A request whose answer was lost is retried only when the minter
honours Idempotency-Key; otherwise the reward waits for an operator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from blockster.db import retry_if_connection_dropped
from campaigns.models import ShareReward
from campaigns.services import mark_rewarded

from .minter import MinterClient, MintError, MintOutcomeUnknown
from .mirror import sync_share_reward_after_commit

logger = logging.getLogger(__name__)

Status = ShareReward.Status
WAITING_FOR_WALLET = "Waiting for a wallet address"
CHECK_MINTER = "Check the minter's records before retrying: it may have minted."


class MintResult(StrEnum):
    MINTED = "minted"
    ALREADY_DONE = "already_done"  # rewarded, failed, or not verified
    IN_FLIGHT = "in_flight"  # another attempt holds the claim
    NO_WALLET = "no_wallet"
    RETRY = "retry"  # a definite failure; try again later
    GAVE_UP = "gave_up"  # definite failures up to the limit; an operator retries
    NEEDS_OPERATOR = "needs_operator"


@dataclass(frozen=True)
class MintAttempt:
    result: MintResult
    attempts: int = 0


def request_mint(reward_id: int) -> bool:
    """Queue the mint; a broker outage is logged and left to the sweeper."""
    from .tasks import mint_bux_task

    try:
        mint_bux_task.delay(reward_id)
    except Exception as error:  # kombu raises several types for a dead broker
        logger.warning(
            "mint of reward %s not queued (%s); the sweeper will queue it",
            reward_id,
            type(error).__name__,
        )
        return False
    return True


def _lease_expired_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.BUX_MINT_LEASE_SECONDS)


def _claim(reward_id: int) -> int:
    """Stamp the reward as being minted; 1 if this caller now owns the attempt."""
    claimable = Q(mint_started_at__isnull=True)
    if settings.BUX_MINTER_IDEMPOTENT:
        # A lost attempt can be repeated with the same key: the minter answers it
        # with the first result instead of minting again.
        claimable |= Q(mint_started_at__lt=_lease_expired_before())
    now = timezone.now()
    return (
        ShareReward.objects.filter(
            claimable, pk=reward_id, status=Status.VERIFIED, needs_operator=False
        )
        .exclude(user__wallet_address="")
        .update(
            mint_started_at=now,
            mint_attempts=F("mint_attempts") + 1,
            failure_reason="",
            updated_at=now,
        )
    )


def mint_share_reward(
    reward_id: int, *, client: MinterClient | None = None
) -> MintAttempt:
    reward = (
        ShareReward.objects.select_related("user", "campaign")
        .filter(pk=reward_id)
        .first()
    )
    if reward is None or reward.status != Status.VERIFIED:
        return MintAttempt(MintResult.ALREADY_DONE)
    if not reward.user.wallet_address:
        _record(reward_id, failure_reason=WAITING_FOR_WALLET)
        return MintAttempt(MintResult.NO_WALLET)
    if not _claim(reward_id):
        return _why_not_claimed(reward_id)
    reward.refresh_from_db()
    assert reward.bux_rewarded is not None  # set when the share was claimed
    client = client or MinterClient.from_settings()
    try:
        # Outside any transaction: the claim above is committed, so a crash from
        # here on leaves a visible in-flight mint rather than a forgotten one.
        receipt = client.mint(
            wallet_address=reward.user.wallet_address,
            amount=reward.bux_rewarded,
            user_id=reward.user_id,
            post_id=reward.campaign.post_id,
            idempotency_key=f"share-reward-{reward.pk}",
        )
    except MintError as error:
        logger.warning("mint of reward %s failed: %s", reward_id, error.detail)
        _record(reward_id, failure_reason=f"Mint failed: {error.detail}", release=True)
        if reward.mint_attempts >= settings.BUX_MINT_MAX_ATTEMPTS:
            return MintAttempt(MintResult.GAVE_UP, reward.mint_attempts)
        return MintAttempt(MintResult.RETRY, reward.mint_attempts)
    except MintOutcomeUnknown as error:
        return _outcome_unknown(reward, str(error))
    try:
        # The receipt is in hand: only the write may be repeated, never the mint.
        retry_if_connection_dropped(
            mark_rewarded, reward, tx_hash=receipt.transaction_hash
        )
    except DatabaseError:
        logger.error(
            "minted reward %s (transaction %s) but could not record it; the retry "
            "recovers it from the minter's answer to the same key",
            reward_id,
            receipt.transaction_hash,
        )
        raise
    logger.info(
        "minted %s BUX for reward %s: %s",
        reward.bux_rewarded,
        reward_id,
        receipt.transaction_hash,
    )
    return MintAttempt(MintResult.MINTED, reward.mint_attempts)


def _outcome_unknown(reward: ShareReward, detail: str) -> MintAttempt:
    if settings.BUX_MINTER_IDEMPOTENT:
        logger.warning(
            "mint of reward %s: %s; retrying with the same key", reward.pk, detail
        )
        _record(
            reward.pk, failure_reason=f"Mint outcome unknown: {detail}", release=True
        )
        if reward.mint_attempts >= settings.BUX_MINT_MAX_ATTEMPTS:
            # Safe to retry later with the same key; an operator (or the sweeper
            # after "Retry minting") takes it from here.
            return MintAttempt(MintResult.GAVE_UP, reward.mint_attempts)
        return MintAttempt(MintResult.RETRY, reward.mint_attempts)
    logger.error(
        "mint of reward %s: %s; the minter has no idempotency, so an operator must "
        "check whether it minted",
        reward.pk,
        detail,
    )
    _record(
        reward.pk,
        failure_reason=f"Mint outcome unknown: {detail}. {CHECK_MINTER}",
        needs_operator=True,
    )
    return MintAttempt(MintResult.NEEDS_OPERATOR, reward.mint_attempts)


def _why_not_claimed(reward_id: int) -> MintAttempt:
    reward = ShareReward.objects.filter(pk=reward_id).first()
    if reward is None or reward.status != Status.VERIFIED:
        return MintAttempt(MintResult.ALREADY_DONE)
    if reward.needs_operator:
        return MintAttempt(MintResult.NEEDS_OPERATOR, reward.mint_attempts)
    interrupted = (
        reward.mint_started_at is not None
        and reward.mint_started_at < _lease_expired_before()
        and not settings.BUX_MINTER_IDEMPOTENT
    )
    if interrupted:
        # A worker died mid-request: without idempotency a person must decide.
        _record(
            reward_id,
            failure_reason=f"A mint request was interrupted. {CHECK_MINTER}",
            needs_operator=True,
        )
        return MintAttempt(MintResult.NEEDS_OPERATOR, reward.mint_attempts)
    return MintAttempt(MintResult.IN_FLIGHT, reward.mint_attempts)


def _record(
    reward_id: int,
    *,
    failure_reason: str,
    release: bool = False,
    needs_operator: bool = False,
) -> None:
    changes = {"failure_reason": failure_reason, "updated_at": timezone.now()}
    if release:
        changes["mint_started_at"] = None
    if needs_operator:
        changes["needs_operator"] = True
    with transaction.atomic():
        ShareReward.objects.filter(pk=reward_id, status=Status.VERIFIED).update(
            **changes
        )
        _sync(reward_id)


def _sync(reward_id: int) -> None:
    ids = ShareReward.objects.filter(pk=reward_id).values_list("user_id", "campaign_id")
    for user_id, campaign_id in ids:
        sync_share_reward_after_commit(user_id, campaign_id)


def retry_minting(reward: ShareReward) -> bool:
    """An operator's retry: clear the attempt count and any operator flag, then queue.

    Only for a verified reward with no mint in flight; an operator who clears a
    `needs_operator` flag has checked that the earlier request did not mint.
    """
    with transaction.atomic():
        updated = (
            ShareReward.objects.filter(pk=reward.pk, status=Status.VERIFIED)
            .filter(Q(mint_started_at__isnull=True) | Q(needs_operator=True))
            .update(
                mint_attempts=0,
                needs_operator=False,
                mint_started_at=None,
                failure_reason="",
                updated_at=timezone.now(),
            )
        )
        if updated:
            _sync(reward.pk)
            transaction.on_commit(lambda: request_mint(reward.pk))
    return updated == 1


def rewards_to_sweep() -> QuerySet[ShareReward]:
    """Verified rewards that should be minting and have no mint queued or running."""
    quiet_since = timezone.now() - timedelta(seconds=60)
    stale = Q(mint_started_at__isnull=True)
    if settings.BUX_MINTER_IDEMPOTENT:
        stale |= Q(mint_started_at__lt=_lease_expired_before())
    return (
        ShareReward.objects.filter(
            stale,
            status=Status.VERIFIED,
            needs_operator=False,
            mint_attempts__lt=settings.BUX_MINT_MAX_ATTEMPTS,
            updated_at__lt=quiet_since,
        )
        .exclude(user__wallet_address="")
        .order_by("pk")
    )


def sweep_rewards() -> dict[str, int]:
    """Re-queue verified rewards with no mint in flight, and free places held by
    share attempts that died before X answered."""
    queued = 0
    for reward_id in rewards_to_sweep().values_list("pk", flat=True)[:1000]:
        queued += request_mint(reward_id)
    from campaigns.services import purge_stale_pending_rewards

    return {"queued": queued, "stale_pending_removed": purge_stale_pending_rewards()}


def queue_rewards_waiting_for_wallet(user_id: int) -> int:
    """After the user adds a wallet: mint what was waiting for it."""
    ids = list(
        ShareReward.objects.filter(
            user_id=user_id,
            status=Status.VERIFIED,
            mint_started_at__isnull=True,
            needs_operator=False,
        ).values_list("pk", flat=True)
    )
    for reward_id in ids:
        transaction.on_commit(partial(request_mint, reward_id))
    return len(ids)
