from __future__ import annotations

from celery import shared_task

from .services.lease import purge_stale_pending_rewards


@shared_task(acks_late=True)
def purge_stale_claims_task() -> int:
    return purge_stale_pending_rewards()
