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
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from blockster.db import retry_if_connection_dropped
from campaigns.models import ShareReward
from campaigns.services import mark_rewarded

from .minter import MinterClient, MintError, MintOutcomeUnknown, MintRefused
from .mirror import sync_share_reward_after_commit
from .reasons import MINTER_REFUSED, WALLET_REFUSED, failure_reason

logger = logging.getLogger(__name__)

Status = ShareReward.Status
WAITING_FOR_WALLET = "Waiting for a wallet address"
CHECK_MINTER = "Check the minter's records before retrying: it may have minted."
RETRY_IS_SAFE = (
    "Retrying is safe: the minter answers a repeated key with its first result."
)
NOTHING_MINTED = "Nothing was minted: retry once the cause is fixed."
# A reward left alone this long with no mint queued is re-queued by the sweeper.
SWEEP_QUIET = timedelta(seconds=60)


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

    reward_id: int
    started_at: datetime
    attempts: int
    wallet_address: str


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


def _claimable() -> Q:
    unclaimed = Q(mint_started_at__isnull=True)
    if settings.BUX_MINTER_IDEMPOTENT:
        # A lost attempt can be repeated with the same key: the minter answers it
        # with the first result instead of minting again.
        unclaimed |= Q(mint_started_at__lt=_lease_expired_before())
    return unclaimed


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
        _claimable(),
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
                _sync(reward.pk)
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
    return _Claim(reward.pk, now, attempts, wallet)


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
        return _refused(reward, claim, refusal)
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


def _refused(reward: ShareReward, claim: _Claim, refusal: MintRefused) -> MintAttempt:
    logger.warning("mint of reward %s refused: %s", claim.reward_id, refusal.detail)
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
        if _locked_wallet(reward.user_id) != claim.wallet_address:
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
    logger.warning("mint of reward %s failed: %s", claim.reward_id, detail)
    if claim.attempts >= settings.BUX_MINT_MAX_ATTEMPTS:
        reason = f"Mint failed {claim.attempts} times, last: {detail}."
        _settle(
            claim,
            mint_started_at=None,
            needs_operator=True,
            failure_reason=failure_reason(reason, advice=NOTHING_MINTED),
        )
        return MintAttempt(MintResult.NEEDS_OPERATOR, claim.attempts)
    _settle(
        claim,
        mint_started_at=None,
        failure_reason=failure_reason(f"Mint failed: {detail}"),
    )
    return MintAttempt(MintResult.RETRY, claim.attempts)


def _outcome_unknown(claim: _Claim, detail: str) -> MintAttempt:
    """No answer proves whether the minter minted (STYLE 15a)."""
    if not settings.BUX_MINTER_IDEMPOTENT:
        logger.error(
            "mint of reward %s: %s; the minter has no idempotency, so an operator must "
            "check whether it minted",
            claim.reward_id,
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
        "mint of reward %s: %s; retrying with the same key", claim.reward_id, detail
    )
    if claim.attempts >= settings.BUX_MINT_MAX_ATTEMPTS:
        reason = f"Mint outcome unknown after {claim.attempts} attempts: {detail}."
        _settle(
            claim,
            mint_started_at=None,
            needs_operator=True,
            failure_reason=failure_reason(reason, advice=RETRY_IS_SAFE),
        )
        return MintAttempt(MintResult.NEEDS_OPERATOR, claim.attempts)
    _settle(
        claim,
        mint_started_at=None,
        failure_reason=failure_reason(f"Mint outcome unknown: {detail}"),
    )
    return MintAttempt(MintResult.RETRY, claim.attempts)


def _why_not_claimed(reward_id: int) -> MintAttempt:
    reward = ShareReward.objects.filter(pk=reward_id).first()
    if reward is None or reward.status != Status.VERIFIED:
        return MintAttempt(MintResult.ALREADY_DONE)
    if reward.needs_operator:
        return MintAttempt(MintResult.NEEDS_OPERATOR, reward.mint_attempts)
    if reward.waiting_for_wallet:
        return MintAttempt(MintResult.NO_WALLET, reward.mint_attempts)
    if _flag_stranded(reward):
        return MintAttempt(MintResult.NEEDS_OPERATOR, reward.mint_attempts)
    return MintAttempt(MintResult.IN_FLIGHT, reward.mint_attempts)


def _settle(claim: _Claim, **changes: Any) -> None:
    """Record this attempt's outcome, if its claim still holds. Safe to repeat, so a
    database connection lost while the minter answered is reconnected."""

    def write() -> None:
        with transaction.atomic():
            updated = ShareReward.objects.filter(
                pk=claim.reward_id,
                status=Status.VERIFIED,
                mint_started_at=claim.started_at,
            ).update(**changes, updated_at=timezone.now())
            if updated:
                _sync(claim.reward_id)

    if transaction.get_connection().in_atomic_block:
        write()
    else:
        retry_if_connection_dropped(write)


def _sync(reward_id: int) -> None:
    ids = ShareReward.objects.filter(pk=reward_id).values_list("user_id", "campaign_id")
    for user_id, campaign_id in ids:
        sync_share_reward_after_commit(user_id, campaign_id)


# --- The operator queue and the sweeper -----------------------------------------------


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
    if reward.mint_started_at >= _lease_expired_before():
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


def _flag_stranded(reward: ShareReward) -> bool:
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
            _sync(reward.pk)
    if updated:
        logger.error("reward %s needs an operator: %s", reward.pk, reason)
    return updated == 1


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
                waiting_for_wallet=False,
                mint_started_at=None,
                failure_reason="",
                updated_at=timezone.now(),
            )
        )
        if updated:
            _sync(reward.pk)
            transaction.on_commit(partial(request_mint, reward.pk))
    return updated == 1


def rewards_to_sweep() -> QuerySet[ShareReward]:
    """Verified rewards that should be minting and have no mint queued or running."""
    quiet_since = timezone.now() - SWEEP_QUIET
    stale = Q(mint_started_at__isnull=True)
    if settings.BUX_MINTER_IDEMPOTENT:
        stale |= Q(mint_started_at__lt=_lease_expired_before())
    return ShareReward.objects.filter(
        stale,
        status=Status.VERIFIED,
        needs_operator=False,
        waiting_for_wallet=False,
        mint_attempts__lt=settings.BUX_MINT_MAX_ATTEMPTS,
        updated_at__lt=quiet_since,
    ).order_by("pk")


def stranded_rewards() -> QuerySet[ShareReward]:
    """Candidates for the operator queue: a lease that ran out with no answer, or no
    attempts left (`_stranded_reason` decides each)."""
    return ShareReward.objects.filter(
        Q(mint_started_at__lt=_lease_expired_before())
        | Q(
            mint_started_at__isnull=True,
            mint_attempts__gte=settings.BUX_MINT_MAX_ATTEMPTS,
            waiting_for_wallet=False,
        ),
        status=Status.VERIFIED,
        needs_operator=False,
    ).order_by("pk")


def sweep_rewards() -> dict[str, int]:
    """Put stranded mints in the operator queue, re-queue verified rewards with no
    mint in flight, and free places held by share attempts that died before X
    answered."""
    flagged = sum(_flag_stranded(reward) for reward in stranded_rewards()[:1000])
    queued = 0
    for reward_id in rewards_to_sweep().values_list("pk", flat=True)[:1000]:
        queued += request_mint(reward_id)
    from campaigns.services import purge_stale_pending_rewards

    return {
        "flagged": flagged,
        "queued": queued,
        "stale_pending_removed": purge_stale_pending_rewards(),
    }


def queue_rewards_waiting_for_wallet(user_id: int) -> int:
    """After the user saves a wallet: mint what was waiting for one (none, or one
    the minter refused)."""
    waiting = ShareReward.objects.filter(
        user_id=user_id,
        status=Status.VERIFIED,
        mint_started_at__isnull=True,
        needs_operator=False,
    )
    with transaction.atomic():
        ids = list(waiting.values_list("pk", flat=True))
        waiting.filter(pk__in=ids, waiting_for_wallet=True).update(
            waiting_for_wallet=False, failure_reason="", updated_at=timezone.now()
        )
        for reward_id in ids:
            _sync(reward_id)
            transaction.on_commit(partial(request_mint, reward_id))
    return len(ids)
