"""The Retweet & Like flow: claim a place, ask X, verify the share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from blockster.db import retry_if_connection_dropped
from rewards.amounts import format_bux, x_multiplier
from social.models import XConnection
from social.services import (
    XReconnectRequired,
    get_access_token,
    get_x_connection_for_user,
    maybe_refresh_token,
    require_reconnect,
)
from social.spend import (
    SHARING_PAUSED_MESSAGE,
    spending_for,
)
from social.x_api import (
    ShareResult,
    XApiClient,
    XApiError,
    XBadRequest,
    XCreditsDepleted,
    XForbidden,
    XNotFound,
    XUnauthorized,
)

from ..models import CampaignTweet, ShareCampaign, ShareReward
from ..policy import campaign_policy
from .budget import reward_amount
from .claim import (
    AlreadyShared,
    ShareRefused,
    create_pending_reward,
    delete_share_reward,
    mark_shared,
    verify_share_reward,
)
from .lease import hold_claim
from .tweets import TWEET_DELETED_MESSAGE, mark_tweet_deleted

logger = logging.getLogger(__name__)


# How long a new connection's score may take before sharing pays the base reward.
SCORE_WAIT = timedelta(minutes=10)
SCORE_PENDING_MESSAGE = (
    "Your X score is still being calculated. Your reward depends on it: try again "
    "in a moment."
)


def is_score_pending(connection: XConnection) -> bool:
    """The score is being computed for a fresh connection (and worth waiting for)."""
    return (
        connection.x_score is None
        and connection.connected_at > timezone.now() - SCORE_WAIT
    )


@dataclass(frozen=True)
class ShareOutcome:
    ok: bool
    message: str
    reward: ShareReward | None = None
    reconnect: bool = False
    rate_limited: bool = False
    # The reader's X connection as the share left it (the box shows it).
    connection: XConnection | None = None


def share_to_x(
    user: User,
    campaign: ShareCampaign,
    *,
    tweet: CampaignTweet | None = None,
    client: XApiClient | None = None,
) -> ShareOutcome:
    """Retweet (and like) one of the campaign's tweets (its first unless told) for
    the user, and grant the reward."""
    tweet = tweet or campaign.first_tweet
    connection = get_x_connection_for_user(user)
    if connection is None:
        return ShareOutcome(
            False, "Please connect your X account first", reconnect=True
        )
    if is_score_pending(connection):
        # The reward is the score times the base: sharing now would pay the default.
        return ShareOutcome(False, SCORE_PENDING_MESSAGE)
    if tweet.tweet_deleted_at is not None:
        return ShareOutcome(False, TWEET_DELETED_MESSAGE)
    # The connection row is loaded already: its score is the multiplier. A pause of
    # sharing is found by the claim, with the reader's row.
    amount = reward_amount(campaign, x_multiplier(connection.x_score))
    try:
        reward = create_pending_reward(
            user, campaign, connection, amount=amount, tweet=tweet
        )
    except AlreadyShared as refused:
        return ShareOutcome(False, refused.user_message, reward=refused.reward)
    except ShareRefused as refused:
        return ShareOutcome(False, refused.user_message)

    # X is called outside any transaction: the pending row already holds the place,
    # renewed for as long as X takes. The writes after it survive a database
    # connection that died during the call.
    try:
        with hold_claim(reward), spending_for(campaign.pk):
            result = _retweet_and_like(connection, campaign, tweet, client)
    except XReconnectRequired as error:
        retry_if_connection_dropped(delete_share_reward, reward)
        return ShareOutcome(False, error.user_message, reconnect=True)
    except XUnauthorized:
        retry_if_connection_dropped(delete_share_reward, reward)
        require_reconnect(user, reason="access_token_refused")
        return ShareOutcome(False, XReconnectRequired.user_message, reconnect=True)
    except XNotFound:
        # X has no such tweet any more: its author deleted it after the launch.
        retry_if_connection_dropped(delete_share_reward, reward)
        retry_if_connection_dropped(mark_tweet_deleted, tweet)
        return ShareOutcome(False, TWEET_DELETED_MESSAGE)
    except XApiError as error:
        retry_if_connection_dropped(delete_share_reward, reward)
        logger.info(
            "share of campaign %s (tweet %s) by user %s failed: %s",
            campaign.pk,
            tweet.tweet_id,
            user.pk,
            error.detail,
        )
        return ShareOutcome(
            False, share_error_message(error), rate_limited=error.status == 429
        )
    except BaseException:
        retry_if_connection_dropped(delete_share_reward, reward)
        raise

    # The campaign's policy: confirm the retweet on X before minting (the task
    # runs after this request), or take X's answer as enough.
    confirm = campaign_policy(campaign).picks_share()
    try:
        reward = retry_if_connection_dropped(
            mark_shared if confirm else verify_share_reward,
            reward,
            retweet_id=tweet.tweet_id,
            liked=result.liked,
        )
    except AlreadyShared as refused:
        return ShareOutcome(False, refused.user_message, reward=refused.reward)
    except ShareRefused as refused:
        return ShareOutcome(False, refused.user_message)
    return ShareOutcome(True, share_message(reward), reward, connection=connection)


def share_message(reward: ShareReward) -> str:
    """What the reader is told once X accepted the retweet."""
    done = "Retweeted & Liked!" if reward.liked else "Retweeted!"
    if reward.status == ShareReward.Status.SHARED:
        return f"{done} Confirming on X…"
    return f"{done} You earned {format_bux(reward.bux_rewarded)} BUX!"


def _retweet_and_like(
    connection: XConnection,
    campaign: ShareCampaign,
    tweet: CampaignTweet,
    client: XApiClient | None,
) -> ShareResult:
    client = client or XApiClient.from_settings()
    connection = maybe_refresh_token(connection, client=client)
    like = campaign.request_like and settings.X_LIKES_ENABLED
    result = client.retweet_and_like(
        get_access_token(connection), connection.x_user_id, tweet.tweet_id, like=like
    )
    if result.like_error is not None:
        logger.info(
            "like of campaign %s refused by X (retweet kept): %s",
            campaign.pk,
            result.like_error.detail,
        )
    return result


def share_error_message(error: XApiError) -> str:
    """What the reader sees when X refuses or fails the retweet."""
    if isinstance(error, XCreditsDepleted):
        return SHARING_PAUSED_MESSAGE
    if isinstance(error, XBadRequest) and error.status == 400:
        return "X rejected the retweet: " + ("; ".join(error.messages) or error.detail)
    if isinstance(error, XForbidden):
        return "; ".join(error.messages) or (
            "Forbidden - you may have already retweeted this post"
        )
    return error.user_message
