"""Minting BUX for verified share rewards: exactly one mint per reward.

A reward is claimed for minting by a conditional UPDATE on its own row that stamps
mint_started_at; the minter is called outside any transaction; its answer moves the
reward on (docs/operations.md has the table):

- a receipt: rewarded;
- a refusal (400): a wallet problem waits for the reader to fix it in Settings, any
  other refusal is failed;
- a definite failure (the minter unreachable, our secret refused): retried with
  backoff, then the operator queue;
- an unknown outcome (a 5xx, a timeout, a cut answer): retried with the same key only
  when the minter honours Idempotency-Key; otherwise the operator queue at once.

A claim whose lease ran out with no answer recorded (its worker was killed) is found
by the sweeper: re-queued when the minter is idempotent, otherwise put in the operator
queue, so no reward is left "minting" without anyone knowing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from blockster.db import retry_if_connection_dropped
from campaigns.models import ShareReward

from ..minter import MinterClient, MintError, MintOutcomeUnknown, MintRefused
from ..mirror.write import sync_after_commit
from ..reasons import MINTER_REFUSED, WALLET_REFUSED, failure_reason
from .mint_queue import unclaimed
from .operator_queue import CHECK_MINTER, NOTHING_MINTED, RETRY_IS_SAFE, flag_stranded

logger = logging.getLogger(__name__)

Status = ShareReward.Status
WAITING_FOR_WALLET = "Waiting for a wallet address"


class MintResult(StrEnum):
    MINTED = "minted"
    ALREADY_DONE = "already_done"  # rewarded, failed, or not verified
    IN_FLIGHT = "in_flight"  # another attempt holds the claim
    NO_WALLET = "no_wallet"  # waits for the reader to add or fix a wallet address
    REFUSED = "refused"  # the minter refused it for good: failed
    RETRY = "retry"  # a definite failure, or an idempotent minter's unknown outcome
    NEEDS_OPERATOR = "needs_operator"


@dataclass(frozen=True)
class MintAttempt:
    result: MintResult
    attempts: int = 0


@dataclass(frozen=True)
class _Claim:
    """This attempt's hold on a reward: later writes apply only while it holds."""

    reward: ShareReward
    started_at: datetime
    attempts: int
    wallet_address: str


def mint_retry_delay(attempts: int) -> float:
    """Seconds before the mint is tried again after its `attempts`-th attempt failed
    for now: BUX_MINT_RETRY_BASE_SECONDS, doubled after each attempt."""
    return settings.BUX_MINT_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)


def waits_for_mint_retry(reward: ShareReward) -> bool:
    """The last attempt failed for now (the minter unreachable, or no answer from an
    idempotent one) and the mint task tries again after its delay."""
    return (
        reward.is_minting
        and reward.mint_started_at is None
        and reward.mint_attempts > 0
        and bool(reward.failure_reason)
    )


def next_mint_attempt(reward: ShareReward) -> datetime | None:
    """About when a reward waiting for a retry is tried again (its failed attempt
    was recorded at `updated_at`); None unless it waits for one."""
    if not waits_for_mint_retry(reward):
        return None
    return reward.updated_at + timedelta(seconds=mint_retry_delay(reward.mint_attempts))


def _locked_wallet(user_id: int) -> str:
    """The user's wallet, with their row locked until the transaction ends, so a
    wallet saved meanwhile waits for this decision and then sees its outcome."""
    return (
        User.objects.select_for_update(no_key=True)
        .values_list("wallet_address", flat=True)
        .get(pk=user_id)
    )


def _claim(reward: ShareReward) -> _Claim | None:
    """Stamp the reward as being minted by this caller; None if it was not claimed
    (another attempt holds it, it moved on, or it now waits for a wallet)."""
    now = timezone.now()
    # Every condition is on the reward's own row (STYLE 7a): a filter across a
    # relation becomes a subquery that PostgreSQL does not re-check after waiting on
    # the row lock, and racing copies of the task would all win.
    claimable = ShareReward.objects.filter(
        unclaimed(),
        pk=reward.pk,
        status=Status.VERIFIED,
        needs_operator=False,
        waiting_for_wallet=False,
    )
    with transaction.atomic():
        wallet = _locked_wallet(reward.user_id)
        if not wallet:
            if claimable.update(
                waiting_for_wallet=True,
                failure_reason=WAITING_FOR_WALLET,
                updated_at=now,
            ):
                sync_after_commit(reward)
            return None
        claimed = claimable.update(
            mint_started_at=now,
            mint_attempts=F("mint_attempts") + 1,
            failure_reason="",
            updated_at=now,
        )
        if not claimed:
            return None
        attempts = (
            ShareReward.objects.filter(pk=reward.pk)
            .values_list("mint_attempts", flat=True)
            .get()
        )
    return _Claim(reward, now, attempts, wallet)


def mint_share_reward(
    reward_id: int, *, client: MinterClient | None = None
) -> MintAttempt:
    reward = ShareReward.objects.select_related("campaign").filter(pk=reward_id).first()
    if reward is None or reward.status != Status.VERIFIED:
        return MintAttempt(MintResult.ALREADY_DONE)
    claim = _claim(reward)
    if claim is None:
        return _why_not_claimed(reward_id)
    assert reward.bux_rewarded is not None  # set when the share was claimed
    client = client or MinterClient.from_settings()
    try:
        # Outside any transaction: the claim above is committed, so a crash from
        # here on leaves a visible in-flight mint rather than a forgotten one.
        receipt = client.mint(
            wallet_address=claim.wallet_address,
            amount=reward.bux_rewarded,
            user_id=reward.user_id,
            post_id=reward.campaign.post_id,
            idempotency_key=f"share-reward-{reward.pk}",
        )
    except MintRefused as refusal:
        return _refused(claim, refusal)
    except MintError as error:
        return _failed_for_now(claim, error.detail)
    except MintOutcomeUnknown as error:
        return _outcome_unknown(claim, error.detail)
    try:
        # The receipt is in hand: only the write may be repeated, never the mint.
        retry_if_connection_dropped(
            mark_rewarded, reward, tx_hash=receipt.transaction_hash
        )
    except DatabaseError:
        logger.error(
            "minted reward %s (transaction %s) but could not record it; when its "
            "lease runs out the sweeper hands it to an operator, who records this "
            "transaction (an idempotent minter is asked again instead)",
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
    return MintAttempt(MintResult.MINTED, claim.attempts)


def mark_rewarded(reward: ShareReward, *, tx_hash: str) -> bool:
    """verified → rewarded with the mint's transaction; False if it already moved on.

    The mint task records its receipt here, and so does an operator who found the
    mint in the minter's records."""
    now = timezone.now()
    with transaction.atomic():
        updated = ShareReward.objects.filter(
            pk=reward.pk, status=Status.VERIFIED
        ).update(
            status=Status.REWARDED,
            tx_hash=tx_hash,
            rewarded_at=now,
            mint_started_at=None,
            needs_operator=False,
            failure_reason="",
            updated_at=now,
        )
        if updated:
            sync_after_commit(reward)
    return updated == 1


def _refused(claim: _Claim, refusal: MintRefused) -> MintAttempt:
    logger.warning("mint of reward %s refused: %s", claim.reward.pk, refusal.detail)
    if not refusal.reader_can_fix:
        _settle(
            claim,
            status=Status.FAILED,
            mint_started_at=None,
            failure_reason=failure_reason(f"{MINTER_REFUSED}: {refusal.message}"),
        )
        return MintAttempt(MintResult.REFUSED, claim.attempts)
    with transaction.atomic():
        # Under the user's row lock, as the claim: a wallet saved while this request
        # was in flight is tried now instead of waiting for a fix already made.
        if _locked_wallet(claim.reward.user_id) != claim.wallet_address:
            _settle(claim, mint_started_at=None)
            return MintAttempt(MintResult.RETRY, claim.attempts)
        _settle(
            claim,
            mint_started_at=None,
            waiting_for_wallet=True,
            failure_reason=failure_reason(f"{WALLET_REFUSED}: {refusal.message}"),
        )
    return MintAttempt(MintResult.NO_WALLET, claim.attempts)


def _failed_for_now(claim: _Claim, detail: str) -> MintAttempt:
    """The minter did not mint (unreachable, or it refused our secret)."""
    logger.warning("mint of reward %s failed: %s", claim.reward.pk, detail)
    return _retry_or_hand_over(
        claim,
        retry_reason=f"Mint failed: {detail}",
        final_reason=f"Mint failed {claim.attempts} times, last: {detail}.",
        advice=NOTHING_MINTED,
    )


def _outcome_unknown(claim: _Claim, detail: str) -> MintAttempt:
    """No answer proves whether the minter minted (STYLE 15a)."""
    if not settings.BUX_MINTER_IDEMPOTENT:
        logger.error(
            "mint of reward %s: %s; the minter has no idempotency, so an operator must "
            "check whether it minted",
            claim.reward.pk,
            detail,
        )
        # The stamp stays: it tells the operator when the request was sent.
        _settle(
            claim,
            needs_operator=True,
            failure_reason=failure_reason(
                f"Mint outcome unknown: {detail}.", advice=CHECK_MINTER
            ),
        )
        return MintAttempt(MintResult.NEEDS_OPERATOR, claim.attempts)
    logger.warning(
        "mint of reward %s: %s; retrying with the same key", claim.reward.pk, detail
    )
    return _retry_or_hand_over(
        claim,
        retry_reason=f"Mint outcome unknown: {detail}",
        final_reason=f"Mint outcome unknown after {claim.attempts} attempts: {detail}.",
        advice=RETRY_IS_SAFE,
    )


def _retry_or_hand_over(
    claim: _Claim, *, retry_reason: str, final_reason: str, advice: str
) -> MintAttempt:
    """Release the claim for a retry, or, with no attempts left, hand the reward to
    an operator with `advice`."""
    if claim.attempts >= settings.BUX_MINT_MAX_ATTEMPTS:
        _settle(
            claim,
            mint_started_at=None,
            needs_operator=True,
            failure_reason=failure_reason(final_reason, advice=advice),
        )
        return MintAttempt(MintResult.NEEDS_OPERATOR, claim.attempts)
    _settle(claim, mint_started_at=None, failure_reason=failure_reason(retry_reason))
    return MintAttempt(MintResult.RETRY, claim.attempts)


def _why_not_claimed(reward_id: int) -> MintAttempt:
    reward = ShareReward.objects.filter(pk=reward_id).first()
    if reward is None or reward.status != Status.VERIFIED:
        return MintAttempt(MintResult.ALREADY_DONE)
    if reward.needs_operator:
        return MintAttempt(MintResult.NEEDS_OPERATOR, reward.mint_attempts)
    if reward.waiting_for_wallet:
        return MintAttempt(MintResult.NO_WALLET, reward.mint_attempts)
    if flag_stranded(reward):
        return MintAttempt(MintResult.NEEDS_OPERATOR, reward.mint_attempts)
    return MintAttempt(MintResult.IN_FLIGHT, reward.mint_attempts)


def _settle(claim: _Claim, **changes: Any) -> None:
    """Record this attempt's outcome, if its claim still holds. Safe to repeat, so a
    database connection lost while the minter answered is reconnected."""

    def write() -> None:
        with transaction.atomic():
            updated = ShareReward.objects.filter(
                pk=claim.reward.pk,
                status=Status.VERIFIED,
                mint_started_at=claim.started_at,
            ).update(**changes, updated_at=timezone.now())
            if updated:
                sync_after_commit(claim.reward)

    if transaction.get_connection().in_atomic_block:
        write()
    else:
        retry_if_connection_dropped(write)
