from __future__ import annotations

from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from .mirror.built import REPAIR_MIRROR_TASK
from .mirror.check import check_mirror
from .services.audit import AuditResult, audit_rewarded_shares
from .services.mint_queue import MINT_BUX_TASK
from .services.minting import MintResult, mint_retry_delay, mint_share_reward
from .services.stats import refresh_recent_stats
from .services.sweeper import SweepResult, sweep_rewards


@shared_task(name=MINT_BUX_TASK, bind=True, acks_late=True, max_retries=None)
def mint_bux_task(self: Task[[int], str], reward_id: int) -> str:
    """Mint one reward. Retries, with exponential backoff up to BUX_MINT_MAX_ATTEMPTS
    (counted in the database, so a lost message loses nothing), what the service says
    may be retried: failures that minted nothing, and unknown outcomes only with an
    idempotent minter (rewards.services.minting)."""
    try:
        attempt = mint_share_reward(reward_id)
    except (OperationalError, InterfaceError) as error:
        # The database went away mid-task: try again on a fresh connection. A mint
        # already sent is protected by its claim (see rewards.services.minting).
        close_old_connections()
        raise self.retry(countdown=5) from error
    if attempt.result == MintResult.RETRY:
        raise self.retry(countdown=mint_retry_delay(attempt.attempts))
    if attempt.result == MintResult.IN_FLIGHT:
        # Another attempt holds the claim; look again once its lease could expire.
        raise self.retry(countdown=settings.BUX_MINT_LEASE_SECONDS)
    return attempt.result.value


@shared_task(acks_late=True)
def sweep_rewards_task() -> SweepResult:
    return sweep_rewards()


@shared_task(acks_late=True)
def refresh_campaign_stats_task(hours: float) -> str:
    """Rebuild the campaign dashboard's sums for the last `hours`."""
    return refresh_recent_stats(timedelta(hours=hours)).isoformat()


@shared_task(name=REPAIR_MIRROR_TASK, acks_late=True)
def repair_mirror_task() -> dict[str, int]:
    return check_mirror(repair=True).summary()


@shared_task(acks_late=True)
def audit_rewarded_shares_task() -> AuditResult:
    """Look once more at rewarded retweets due for the audit (X_AUDIT_DELAY_SECONDS
    after the mint), at most X_AUDIT_READS_PER_RUN of them."""
    return audit_rewarded_shares()
