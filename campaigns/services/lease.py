"""The lease on a share claim: a pending reward is held by a live request.

A share request claims its place (a pending reward) before it calls X, and X may take
long: timeouts, retries, a token refresh, or simply a slow answer. The request renews
its claim for as long as it waits (`hold_claim`), and the sweeper frees only claims
left unrenewed for STALE_CLAIM_AGE (`purge_stale_pending_rewards`). So a live request
never loses its place however slow X is, while a claim left by a request that died is
freed within STALE_CLAIM_AGE plus one sweep. Renewal and purge both read the
database's clock: a server whose clock runs ahead cannot free a claim early.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Now

from rewards.mirror.write import sync_after_commit

from ..models import ShareReward

logger = logging.getLogger(__name__)

# A claim left unrenewed this long belongs to a request that died (a killed web
# process) before X answered: the sweeper frees it and the reader can try again.
STALE_CLAIM_AGE = timedelta(minutes=2)
# Renewals per STALE_CLAIM_AGE: three in a row may fail (a database blip) before the
# claim lapses.
RENEWALS_PER_AGE = 4


def renew_claim(reward_id: int) -> bool:
    """Extend a pending claim; False once it is no longer pending."""
    renewed = ShareReward.objects.filter(
        pk=reward_id, status=ShareReward.Status.PENDING
    ).update(claim_renewed_at=Now())
    return renewed == 1


@contextmanager
def hold_claim(reward: ShareReward) -> Iterator[None]:
    """Keep the claim renewed while the block runs (the request is waiting for X).

    The renewals run in a thread of their own, as the request's thread is blocked
    in the X call; that thread touches the database only if the block outlasts one
    renewal period."""
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_until,
        args=(reward.pk, stop),
        name=f"claim-{reward.pk}",
        daemon=True,
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def _renew_until(reward_id: int, stop: threading.Event) -> None:
    try:
        while not stop.wait(STALE_CLAIM_AGE.total_seconds() / RENEWALS_PER_AGE):
            try:
                if not renew_claim(reward_id):
                    return
            except DatabaseError as error:
                # The next renewal may get through. Should the claim lapse and be
                # freed meanwhile, verify_share_reward claims the place again.
                logger.warning(
                    "claim of reward %s not renewed: %s",
                    reward_id,
                    type(error).__name__,
                )
                connection.close()
    finally:
        connection.close()  # this thread's own connection


def purge_stale_pending_rewards() -> int:
    """Free claims whose request stopped renewing them: it died before X answered.
    The reader can then try again; X answers a repeat retweet as done."""
    lapsed = Q(
        status=ShareReward.Status.PENDING,
        claim_renewed_at__lt=Now() - STALE_CLAIM_AGE,
    )
    freed = 0
    stale = ShareReward.objects.filter(lapsed).only(
        "pk", "user_id", "campaign_id", "campaign_tweet_id"
    )
    for reward in stale.order_by("pk"):
        with transaction.atomic():
            # The lease is checked again on the row itself, so a renewal that
            # landed since the read above keeps the claim.
            deleted, _ = ShareReward.objects.filter(lapsed, pk=reward.pk).delete()
            if deleted:
                sync_after_commit(reward)
                freed += 1
    return freed
