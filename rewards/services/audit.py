"""The audit after payout (beat, every 15 minutes): each rewarded share whose
retweet the confirmation found on X is looked at once more, X_AUDIT_DELAY_SECONDS
after its mint, within X_AUDIT_READS_PER_RUN reads of X per run.

The look reads the reader's one post the confirmation found (`find_retweet` with
`post_id`: one post, $0.005), so the reader's later posts never hide it. A retweet
still there marks the reward audited; one that is gone marks it `undone` (the BUX
stay minted, the reason says what happened) and counts against the reader: past
X_UNDONE_SHARES_LIMIT undone shares, new campaigns refuse them until staff lift the
bar. Shares paid without a confirmation (policy `off`, or not sampled) have no post
to look at and are not audited: a read of the newest posts a day later cannot tell
a retweet taken back from one pushed down the timeline.

A retweet not found is not judged before the campaign's post is read with the app's
token (`get_tweet_card`, once per campaign and run): when its author deleted it, every
retweet of it went with it, so the reward is marked audited with POST_DELETED_NOTE,
not undone, the reader's count is left alone, and the campaign is marked deleted (its
own service, in `campaigns`, run as MARK_TWEET_DELETED_TASK). A campaign already
marked deleted has its shares marked so without reading X.

X failing, or a reader who must reconnect X, leaves the reward for a later run; a
reader without a connection is not read until they reconnect.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TypedDict

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.models import User
from blockster.queueing import send_task_or_log
from campaigns.models import CampaignTweet, ShareReward
from social.models import XConnection
from social.services import (
    XReconnectRequired,
    get_access_token,
    maybe_refresh_token,
    require_reconnect,
)
from social.spend import Purpose, spending_for
from social.x_api import (
    XApiClient,
    XApiError,
    XCreditsDepleted,
    XNotFound,
    XUnauthorized,
)

from ..mirror.write import sync_after_commit
from ..reasons import failure_reason

logger = logging.getLogger(__name__)

Status = ShareReward.Status
UNDONE_REASON = (
    "The retweet was taken back on X after the BUX were minted (found by the audit "
    "after payout). The BUX stay minted."
)
POST_DELETED_NOTE = (
    "Not audited: the campaign's post was deleted on X, and its retweets went with "
    "it. The reader took nothing back."
)
# Marks a campaign's post deleted (campaigns.services.tweets.mark_tweet_deleted): sent
# by name, as `rewards` does not call `campaigns`' services.
MARK_TWEET_DELETED_TASK = "campaigns.tasks.mark_tweet_deleted_task"


class AuditResult(TypedDict):
    read: int
    kept: int
    undone: int
    skipped: int
    # Not found because the campaign's post was deleted on X: no one's undo.
    post_deleted: int


def rewards_to_audit() -> QuerySet[ShareReward]:
    """Rewarded shares due for their one look: minted X_AUDIT_DELAY_SECONDS ago,
    confirmed on X (their retweet's post is known), reader connected; oldest first."""
    due = timezone.now() - timedelta(seconds=settings.X_AUDIT_DELAY_SECONDS)
    return (
        ShareReward.objects.filter(
            status=Status.REWARDED,
            audited_at__isnull=True,
            rewarded_at__lt=due,
            user__x_connection__isnull=False,
        )
        .exclude(retweet_post_id="")
        .order_by("rewarded_at", "pk")
    )


def audit_rewarded_shares(*, client: XApiClient | None = None) -> AuditResult:
    result = AuditResult(read=0, kept=0, undone=0, skipped=0, post_deleted=0)
    budget = settings.X_AUDIT_READS_PER_RUN
    due = rewards_to_audit().select_related("campaign_tweet", "user__x_connection")
    client = client or XApiClient.from_settings()
    # Campaign tweet id -> whether X no longer shows the post, read once per run.
    posts_gone: dict[int, bool] = {}
    for reward in due[:budget]:
        if result["read"] >= budget:
            break
        if reward.campaign_tweet.tweet_deleted_at is not None:
            result["post_deleted"] += _mark_audited(reward, note=POST_DELETED_NOTE)
            continue
        try:
            still_there = _look(reward, reward.user.x_connection, client)
        except XCreditsDepleted:
            logger.warning("audit stopped: X credits are depleted")
            break
        except (XReconnectRequired, XApiError) as error:
            _could_not_look(reward, error)
            result["skipped"] += 1
            continue
        finally:
            result["read"] += 1
        if still_there:
            result["kept"] += _mark_audited(reward)
            continue
        tweet = reward.campaign_tweet
        if tweet.pk not in posts_gone:
            # Not found: a deleted post takes every retweet of it along, so the
            # post is read before the reader is judged.
            try:
                posts_gone[tweet.pk] = _post_gone(tweet, client)
            except XCreditsDepleted:
                logger.warning("audit stopped: X credits are depleted")
                break
            except XApiError as error:
                logger.info(
                    "audit of reward %s postponed: campaign %s's post %s not read: %s",
                    reward.pk,
                    tweet.campaign_id,
                    tweet.tweet_id,
                    error.detail,
                )
                result["skipped"] += 1
                continue
            finally:
                result["read"] += 1
            if posts_gone[tweet.pk]:
                _mark_campaign_post_deleted(tweet)
        if posts_gone[tweet.pk]:
            result["post_deleted"] += _mark_audited(reward, note=POST_DELETED_NOTE)
        else:
            result["undone"] += mark_undone(reward)
    return result


def _post_gone(tweet: CampaignTweet, client: XApiClient) -> bool:
    """Whether X no longer shows the campaign's post, read with the app's token
    (its author deleted it). X failing raises: nothing is judged."""
    # The post is read to judge a share: the spend is the audit's.
    with spending_for(tweet.campaign_id, purpose=Purpose.VERIFY):
        try:
            client.get_tweet_card(tweet.tweet_id)
        except XNotFound:
            return True
    return False


def _mark_campaign_post_deleted(tweet: CampaignTweet) -> None:
    logger.warning(
        "audit: campaign %s's post %s is no longer on X",
        tweet.campaign_id,
        tweet.tweet_id,
    )
    send_task_or_log(
        MARK_TWEET_DELETED_TASK,
        tweet.campaign_id,
        tweet.tweet_id,
        catch_up="the next run reads the post again and sends it again",
    )


def _look(reward: ShareReward, connection: XConnection, client: XApiClient) -> bool:
    # Outside any transaction: the reward is written once X has answered.
    with spending_for(reward.campaign_id):
        connection = maybe_refresh_token(connection, client=client)
        found = client.find_retweet(
            get_access_token(connection),
            connection.x_user_id,
            reward.campaign_tweet.tweet_id,
            post_id=reward.retweet_post_id,
        )
    return found is not None


def _could_not_look(reward: ShareReward, error: Exception) -> None:
    if isinstance(error, XUnauthorized):
        require_reconnect(reward.user, reason="access_token_refused")
    if isinstance(error, XApiError) and error.permanent and error.status != 401:
        # X will not answer this reader's timeline (a suspended or protected
        # account): nothing can be judged, so the share leaves the audit's queue.
        logger.warning("reward %s not audited: %s", reward.pk, error.detail)
        _mark_audited(reward, note=f"Not audited: {error.detail}")
        return
    logger.info("audit of reward %s postponed: %s", reward.pk, error)


def _audited(reward: ShareReward) -> QuerySet[ShareReward]:
    return ShareReward.objects.filter(
        pk=reward.pk, status=Status.REWARDED, audited_at__isnull=True
    )


def _mark_audited(reward: ShareReward, *, note: str = "") -> int:
    now = timezone.now()
    changes = {"failure_reason": failure_reason(note)} if note else {}
    with transaction.atomic():
        updated = _audited(reward).update(audited_at=now, updated_at=now, **changes)
        if updated:
            sync_after_commit(reward)
    return updated


def mark_undone(reward: ShareReward) -> int:
    """rewarded → undone, and the reader's count of undone shares up by one, once."""
    now = timezone.now()
    with transaction.atomic():
        updated = _audited(reward).update(
            status=Status.UNDONE,
            audited_at=now,
            failure_reason=UNDONE_REASON,
            updated_at=now,
        )
        if updated:
            User.objects.filter(pk=reward.user_id).update(
                undone_shares=F("undone_shares") + 1
            )
            sync_after_commit(reward)
    if updated:
        logger.info(
            "reward %s of user %s undone on X after payout", reward.pk, reward.user_id
        )
    return updated
