"""Confirming a share on X before its BUX are minted (the `shared` stage).

X's answer to the retweet is not proof that the retweet stays: a reader can retweet
and take it back at once. So a share the campaign's policy confirms (policy.py)
waits as `shared`, holding its place and amount, while a task reads the reader's
newest posts (`XApiClient.find_retweet`, a cheap read) for the retweet:

- seen: `verified`, the mint queued, the retweet's post id kept for the audit;
- not seen yet: looked for again, X_VERIFY_RETRY_SECONDS later, up to
  X_VERIFY_ATTEMPTS looks (X's timelines lag); then `failed` with NOT_SEEN_ON_X,
  the place freed, and the reader's next share claims the row again;
- not seen because the campaign's post is gone (its author deleted it, and its
  retweets went with it): `failed` with POST_DELETED_ON_X, the place freed, and the
  campaign marked deleted. Known from the campaign's `tweet_deleted_at` (no read),
  or, before the last look judges "not found", from one read of the post with the
  app's token (`get_tweet_card`);
- X failing (429, 5xx, no answer): looked for again later, nothing judged;
- X refusing the token (401) or no connection: the reader is asked to reconnect,
  and the place is kept X_VERIFY_RECONNECT_HOURS from the share, then freed;
- with X_VERIFY_LIKES, a share X liked has its like looked for too once the
  retweet is seen, with the same looks; not seen by the last one, the like is
  recorded as not made and the share confirmed on its retweet.

Copies of the task (a redelivery, the sweeper's re-queue) are harmless: each look
reads X only, and what it concludes is written by a conditional UPDATE on the
reward's own `status` and `updated_at` (which every look bumps), so a copy that read
an older row writes nothing and stops. A share is confirmed only by a look that saw
it (`confirm_share_reward`), and the mint that follows is exactly-once on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TypedDict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rewards.mirror.write import sync_after_commit
from rewards.reasons import (
    NOT_SEEN_ON_X,
    POST_DELETED_ON_X,
    RECONNECT_TOO_LATE,
    failure_reason,
)
from social.models import XConnection
from social.services import (
    XReconnectRequired,
    get_access_token,
    get_x_connection_for_user,
    maybe_refresh_token,
    require_reconnect,
)
from social.spend import Purpose, spending_for
from social.x_api import (
    XApiClient,
    XApiError,
    XNotFound,
    XRateLimited,
    XUnauthorized,
)

from ..models import ShareReward
from .claim import confirm_share_reward
from .confirm_queue import request_confirmation
from .tweets import mark_tweet_deleted

logger = logging.getLogger(__name__)

Status = ShareReward.Status
# X failing: the next look waits X_VERIFY_RETRY_SECONDS, doubled each time, at most
# this many times as long (a rate-limited reader is refused locally until X's
# reset, at no cost, so looking before the reset is harmless).
X_FAILED_DELAY_FACTOR = 4
# Rewards handled per sweep: a backlog is worked off over several runs.
SWEEP_BATCH = 1000


class ConfirmResult(StrEnum):
    CONFIRMED = "confirmed"  # seen on X: verified, mint queued
    LOOK_AGAIN = "look_again"  # not seen yet: another look X_VERIFY_RETRY_SECONDS on
    NOT_FOUND = "not_found"  # not seen after X_VERIFY_ATTEMPTS looks: failed
    POST_DELETED = "post_deleted"  # the campaign's post is gone from X: failed
    X_FAILED = "x_failed"  # X gave no usable answer: look again later
    RECONNECT = "reconnect"  # the reader must reconnect X; the place is kept
    EXPIRED = "expired"  # never reconnected in time: failed
    ALREADY_DONE = "already_done"  # not shared any more, or another look was first


@dataclass(frozen=True)
class ConfirmAttempt:
    result: ConfirmResult
    # For X_FAILED: when to look again, when X said (its rate-limit reset).
    retry_after: float | None = None


def quiet_period() -> timedelta:
    """A shared reward untouched this long has lost its next look (the task's
    message was lost, or its worker died): the sweeper queues one. Longer than any
    wait between looks, so a look on its way is not doubled."""
    return timedelta(seconds=2 * longest_wait() + 60)


def longest_wait() -> float:
    """The longest wait between two looks at one share."""
    return X_FAILED_DELAY_FACTOR * settings.X_VERIFY_RETRY_SECONDS


def confirm_share(
    reward_id: int, *, client: XApiClient | None = None
) -> ConfirmAttempt:
    """Look for a shared reward's retweet on the reader's X timeline once, and
    record what the look found."""
    reward = (
        ShareReward.objects.select_related("campaign", "campaign_tweet", "user")
        .filter(pk=reward_id)
        .first()
    )
    if reward is None or reward.status != Status.SHARED:
        return ConfirmAttempt(ConfirmResult.ALREADY_DONE)
    if reward.campaign_tweet.tweet_deleted_at is not None:
        # Its retweet left X with the post: nothing to look for.
        return _post_deleted(reward)
    connection = get_x_connection_for_user(reward.user)
    if connection is None:
        return _await_reconnect(reward)
    client = client or XApiClient.from_settings()
    try:
        # Outside any transaction: nothing is written until X has answered.
        post_id, like_seen = _look(reward, connection, client)
    except XReconnectRequired:
        return _await_reconnect(reward)
    except XUnauthorized:
        require_reconnect(reward.user, reason="access_token_refused")
        return _await_reconnect(reward)
    except XApiError as error:
        return _x_failed(reward, error)
    if post_id is None and _last_look(reward):
        # Before judging "not found": a deleted post takes its retweets with it.
        try:
            post_deleted = _post_gone(reward, client)
        except XApiError as error:
            return _x_failed(reward, error)
        if post_deleted:
            mark_tweet_deleted(reward.campaign_tweet)
            return _post_deleted(reward)
    if post_id is None or (like_seen is False and not _last_look(reward)):
        # The like lags as the retweet does: looked for again while looks remain.
        return _not_seen(reward)
    if confirm_share_reward(reward, retweet_post_id=post_id, like_seen=like_seen):
        logger.info("share %s confirmed on X (post %s)", reward.pk, post_id)
        if like_seen is False:
            logger.info("share %s: its like was not seen on X", reward.pk)
        return ConfirmAttempt(ConfirmResult.CONFIRMED)
    return ConfirmAttempt(ConfirmResult.ALREADY_DONE)


def _look(
    reward: ShareReward, connection: XConnection, client: XApiClient
) -> tuple[str | None, bool | None]:
    """The retweet's post on the reader's timeline (None: not seen), and, once it
    is seen and X_VERIFY_LIKES asks for it, whether the like X accepted is among
    the reader's likes (None: not looked for)."""
    with spending_for(reward.campaign_id):
        connection = maybe_refresh_token(connection, client=client)
        token = get_access_token(connection)
        post_id = client.find_retweet(
            token,
            connection.x_user_id,
            reward.campaign_tweet.tweet_id,
            max_results=settings.X_VERIFY_TIMELINE_POSTS,
        )
        if post_id is None or not (settings.X_VERIFY_LIKES and reward.liked):
            return post_id, None
        try:
            return post_id, client.find_like(
                token, connection.x_user_id, reward.campaign_tweet.tweet_id
            )
        except XApiError as error:
            if not error.permanent or isinstance(error, XUnauthorized):
                raise
            # X will not show the reader's likes (a token without like.read, a
            # plan without the endpoint): the like is left as X answered it.
            logger.warning("share %s: like not checked: %s", reward.pk, error.detail)
            return post_id, None


def _post_gone(reward: ShareReward, client: XApiClient) -> bool:
    """Whether X no longer shows the campaign's post (its author deleted it), read
    with the app's token. X failing for now raises (looked at again later); the
    app's token refused, or any other lasting error, leaves the share to be judged
    on its timeline as before."""
    campaign = reward.campaign
    try:
        # The post is read to judge a share: the spend is the confirmation's.
        with spending_for(campaign.pk, purpose=Purpose.VERIFY):
            client.get_tweet_card(reward.campaign_tweet.tweet_id)
    except XNotFound:
        return True
    except XApiError as error:
        if not error.permanent:
            raise
        logger.warning(
            "share %s: campaign %s's post not read: %s",
            reward.pk,
            campaign.pk,
            error.detail,
        )
    return False


def _post_deleted(reward: ShareReward) -> ConfirmAttempt:
    if _settle(reward, status=Status.FAILED, failure_reason=POST_DELETED_ON_X):
        logger.info("share %s failed: its post was deleted on X", reward.pk)
        return ConfirmAttempt(ConfirmResult.POST_DELETED)
    return ConfirmAttempt(ConfirmResult.ALREADY_DONE)


def _last_look(reward: ShareReward) -> bool:
    return reward.confirm_attempts + 1 >= settings.X_VERIFY_ATTEMPTS


def _not_seen(reward: ShareReward) -> ConfirmAttempt:
    looks = reward.confirm_attempts + 1
    if _last_look(reward):
        if _settle(reward, status=Status.FAILED, failure_reason=NOT_SEEN_ON_X):
            logger.info("share %s not found on X after %d looks", reward.pk, looks)
            return ConfirmAttempt(ConfirmResult.NOT_FOUND)
    elif _settle(reward, confirm_attempts=looks):
        return ConfirmAttempt(ConfirmResult.LOOK_AGAIN)
    return ConfirmAttempt(ConfirmResult.ALREADY_DONE)


def _x_failed(reward: ShareReward, error: XApiError) -> ConfirmAttempt:
    logger.warning("share %s: X failed while confirming: %s", reward.pk, error.detail)
    # The note shows in admin; the reader still sees "Confirming on X…".
    note = failure_reason(f"Confirming on X: {error.detail}")
    if not _settle(reward, failure_reason=note):
        return ConfirmAttempt(ConfirmResult.ALREADY_DONE)
    retry_after = None
    if isinstance(error, XRateLimited) and error.reset_at is not None:
        until_reset = (error.reset_at - timezone.now()).total_seconds() + 1
        retry_after = min(max(until_reset, 1), longest_wait())
    return ConfirmAttempt(ConfirmResult.X_FAILED, retry_after=retry_after)


def x_failed_delay(failures: int) -> float:
    """Seconds before the next look after X failed `failures` times in a row."""
    delay = settings.X_VERIFY_RETRY_SECONDS * 2 ** min(max(failures - 1, 0), 10)
    return min(delay, longest_wait())


def _await_reconnect(reward: ShareReward) -> ConfirmAttempt:
    """No usable connection: the place waits for the reader to reconnect X until
    X_VERIFY_RECONNECT_HOURS after the share, then the share fails."""
    assert reward.shared_at is not None  # set with the shared status
    if reward.shared_at > timezone.now() - reconnect_hold():
        return ConfirmAttempt(ConfirmResult.RECONNECT)
    if _settle(reward, status=Status.FAILED, failure_reason=RECONNECT_TOO_LATE):
        logger.info("share %s failed: X was not reconnected in time", reward.pk)
        return ConfirmAttempt(ConfirmResult.EXPIRED)
    return ConfirmAttempt(ConfirmResult.ALREADY_DONE)


def reconnect_hold() -> timedelta:
    return timedelta(hours=settings.X_VERIFY_RECONNECT_HOURS)


def _settle(reward: ShareReward, **changes: object) -> bool:
    """Record a look's outcome on the row this look read: still shared, and not
    touched since (another copy of the task would have bumped `updated_at`)."""
    now = timezone.now()
    with transaction.atomic():
        updated = ShareReward.objects.filter(
            pk=reward.pk, status=Status.SHARED, updated_at=reward.updated_at
        ).update(updated_at=now, **changes)
        if updated:
            sync_after_commit(reward)
    return updated == 1


def resume_confirmations(user_id: int) -> int:
    """The reader has just connected X again: their shares that waited for it are
    looked for now rather than at the sweeper's next pass. A look already on its way
    is harmless (copies write nothing twice)."""
    waiting = ShareReward.objects.filter(user_id=user_id, status=Status.SHARED)
    return sum(
        request_confirmation(reward_id)
        for reward_id in waiting.values_list("pk", flat=True)[:SWEEP_BATCH]
    )


class SharedSweep(TypedDict):
    queued: int
    expired: int


def sweep_shared_rewards() -> SharedSweep:
    """Beat's safety net for the shared stage: queue a look for shares whose next
    look was lost, and fail those whose reader never reconnected X in time."""
    quiet = ShareReward.objects.filter(
        status=Status.SHARED, updated_at__lt=timezone.now() - quiet_period()
    ).order_by("pk")
    queued = 0
    for reward_id in quiet.filter(user__x_connection__isnull=False).values_list(
        "pk", flat=True
    )[:SWEEP_BATCH]:
        queued += request_confirmation(reward_id)
    expired = 0
    overdue = quiet.filter(
        user__x_connection__isnull=True, shared_at__lt=timezone.now() - reconnect_hold()
    )
    for reward in overdue.select_related("user")[:SWEEP_BATCH]:
        expired += _await_reconnect(reward).result == ConfirmResult.EXPIRED
    return {"queued": queued, "expired": expired}
