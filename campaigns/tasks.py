from __future__ import annotations

from celery import Task, shared_task

from .services.budget import mail_campaign_alert
from .services.lease import purge_stale_pending_rewards


@shared_task(acks_late=True)
def purge_stale_claims_task() -> int:
    return purge_stale_pending_rewards()


@shared_task(bind=True, acks_late=True, max_retries=5)
def send_campaign_alert_task(self: Task, alert_id: int) -> bool:
    try:
        return mail_campaign_alert(alert_id)
    except OSError as error:  # SMTP refused or unreachable: try again later
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from None
