from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from rewards.services.audit import MARK_TWEET_DELETED_TASK

from .models import CampaignTweet
from .services.budget import mail_campaign_alert
from .services.confirm import (
    ConfirmResult,
    SharedSweep,
    confirm_share,
    sweep_shared_rewards,
    x_failed_delay,
)
from .services.confirm_queue import CONFIRM_SHARE_TASK
from .services.lease import purge_stale_pending_rewards
from .services.tweets import mark_tweet_deleted


@shared_task(acks_late=True)
def purge_stale_claims_task() -> int:
    return purge_stale_pending_rewards()


@shared_task(name=CONFIRM_SHARE_TASK, bind=True, acks_late=True, max_retries=None)
def confirm_share_task(self: Task[[int], str], reward_id: int) -> str:
    """Look for one shared reward's retweet on X. Looks again after
    X_VERIFY_RETRY_SECONDS while it is not seen (the attempts are counted on the
    reward, so the number of looks is bounded however often the task runs), and with
    backoff while X fails; a lost message is re-queued by the sweeper."""
    try:
        attempt = confirm_share(reward_id)
    except (OperationalError, InterfaceError) as error:
        # The database went away mid-task: look again on a fresh connection.
        close_old_connections()
        raise self.retry(countdown=5) from error
    if attempt.result == ConfirmResult.LOOK_AGAIN:
        raise self.retry(countdown=settings.X_VERIFY_RETRY_SECONDS)
    if attempt.result == ConfirmResult.X_FAILED:
        delay = attempt.retry_after or x_failed_delay(self.request.retries + 1)
        raise self.retry(countdown=delay)
    return attempt.result.value


@shared_task(acks_late=True)
def sweep_shared_rewards_task() -> SharedSweep:
    return sweep_shared_rewards()


@shared_task(bind=True, acks_late=True, max_retries=5)
def send_campaign_alert_task(self: Task, alert_id: int) -> bool:
    try:
        return mail_campaign_alert(alert_id)
    except OSError as error:  # SMTP refused or unreachable: try again later
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from None


@shared_task(name=MARK_TWEET_DELETED_TASK, acks_late=True)
def mark_tweet_deleted_task(campaign_id: int, tweet_id: str) -> bool:
    """The audit after payout found the campaign's post `tweet_id` gone from X.
    False when the campaign no longer has that post (staff removed it)."""
    tweet = CampaignTweet.objects.filter(
        campaign_id=campaign_id, tweet_id=tweet_id
    ).first()
    if tweet is None:
        return False
    mark_tweet_deleted(tweet)
    return True
