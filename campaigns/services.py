"""Share campaigns and the Retweet & Like flow: where BUX rewards are granted.

A reward is granted at most once: the (user, campaign) unique constraint claims the
pair, the campaign row lock keeps `max_participants`, and every status change is a
conditional UPDATE from the status it expects.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypedDict

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from accounts.models import User
from blockster.db import retry_if_connection_dropped
from posts.models import Post
from rewards.mirror import sync_share_reward_after_commit
from social.models import XConnection
from social.services import (
    XReconnectRequired,
    disconnect_x_account,
    get_access_token,
    get_x_connection_for_user,
    maybe_refresh_token,
)
from social.x_api import (
    ShareResult,
    XApiClient,
    XApiError,
    XBadRequest,
    XForbidden,
    XUnauthorized,
)

from .models import ShareCampaign, ShareReward

logger = logging.getLogger(__name__)

Status = ShareReward.Status
# Places are held by claims in flight as well as by successful shares, so a burst of
# readers can never verify more shares than the campaign has places.
PLACE_HOLDING = (Status.PENDING, Status.VERIFIED, Status.REWARDED)

TWEET_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter\.com|x\.com)/"
    r"(?P<handle>[A-Za-z0-9_]{1,15})/status(?:es)?/(?P<id>\d{1,19})/?(?:[?#].*)?$"
)


# --- Campaigns ------------------------------------------------------------------------


def parse_tweet_url(url: str) -> str:
    """The tweet id in an x.com or twitter.com status URL; ValidationError otherwise."""
    match = TWEET_URL.match(url.strip())
    if not match:
        raise ValidationError(
            "Enter the link of a post on X, like https://x.com/handle/status/1234567890.",
            code="invalid_tweet_url",
        )
    return match["id"]


def create_share_campaign(
    post: Post,
    *,
    tweet_url: str,
    bux_reward: Decimal = Decimal("50"),
    is_active: bool = True,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    max_participants: int | None = None,
    request_like: bool = True,
) -> ShareCampaign:
    campaign = ShareCampaign(
        post=post,
        tweet_id=parse_tweet_url(tweet_url),
        tweet_url=tweet_url.strip(),
        bux_reward=bux_reward,
        is_active=is_active,
        starts_at=starts_at,
        ends_at=ends_at,
        max_participants=max_participants,
        request_like=request_like,
    )
    campaign.full_clean()
    campaign.save()
    return campaign


def get_campaign_for_post(post: Post) -> ShareCampaign | None:
    return ShareCampaign.objects.filter(post=post).first()


def set_campaign_active(campaign: ShareCampaign, *, active: bool) -> ShareCampaign:
    ShareCampaign.objects.filter(pk=campaign.pk).update(
        is_active=active, updated_at=timezone.now()
    )
    campaign.is_active = active
    return campaign


class CampaignStats(TypedDict):
    """A campaign's rewards counted by status, and the BUX paid out (the spec's map)."""

    total: int
    pending: int
    verified: int
    rewarded: int
    failed: int
    total_bux: Decimal


def get_campaign_stats(campaign: ShareCampaign) -> CampaignStats:
    counts = ShareReward.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        pending=Count("pk", filter=Q(status=Status.PENDING)),
        verified=Count("pk", filter=Q(status=Status.VERIFIED)),
        rewarded=Count("pk", filter=Q(status=Status.REWARDED)),
        failed=Count("pk", filter=Q(status=Status.FAILED)),
        total_bux=Sum("bux_rewarded", filter=Q(status=Status.REWARDED)),
    )
    return CampaignStats(
        total=counts["total"],
        pending=counts["pending"],
        verified=counts["verified"],
        rewarded=counts["rewarded"],
        failed=counts["failed"],
        total_bux=counts["total_bux"] or Decimal("0"),
    )


def places_taken(campaign: ShareCampaign) -> int:
    return ShareReward.objects.filter(
        campaign=campaign, status__in=PLACE_HOLDING
    ).count()


def is_campaign_full(campaign: ShareCampaign) -> bool:
    return (
        campaign.max_participants is not None
        and places_taken(campaign) >= campaign.max_participants
    )


def reward_amount(campaign: ShareCampaign, multiplier: int) -> Decimal:
    """round(x_multiplier × base reward), halves rounded up."""
    return (Decimal(multiplier) * campaign.bux_reward).quantize(
        Decimal("1"), rounding=ROUND_HALF_UP
    )


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


# --- Rewards --------------------------------------------------------------------------


class ShareRefused(Exception):
    """The share cannot start; `user_message` says why."""

    user_message = "This share is not possible right now."


class CampaignClosed(ShareRefused):
    user_message = "This campaign is no longer running."


class CampaignFull(ShareRefused):
    user_message = "This campaign has reached its maximum number of participants."


class AlreadyShared(ShareRefused):
    user_message = "You've already shared this article!"

    def __init__(self, reward: ShareReward):
        super().__init__(self.user_message)
        self.reward = reward


class ShareInProgress(AlreadyShared):
    user_message = "Your share is already on its way to X."


def get_successful_share_reward(
    user: User, campaign: ShareCampaign
) -> ShareReward | None:
    return ShareReward.objects.filter(
        user=user, campaign=campaign, status__in=(Status.VERIFIED, Status.REWARDED)
    ).first()


def get_share_reward(
    user: User | AnonymousUser, campaign: ShareCampaign
) -> ShareReward | None:
    if not user.is_authenticated:
        return None
    return ShareReward.objects.filter(user=user, campaign=campaign).first()


def _sync_after_commit(reward: ShareReward) -> None:
    sync_share_reward_after_commit(reward.user_id, reward.campaign_id)


def create_pending_reward(
    user: User, campaign: ShareCampaign, x_connection: XConnection, *, amount: Decimal
) -> ShareReward:
    """Claim the (user, campaign) pair and a place in the campaign.

    Raises CampaignClosed, CampaignFull, AlreadyShared or ShareInProgress.
    """
    try:
        with transaction.atomic():
            # The campaign row lock serialises claims, so the place count below cannot
            # be overtaken by a concurrent claim.
            locked = (
                ShareCampaign.objects.select_for_update(no_key=True, of=("self",))
                .select_related("post")
                .get(pk=campaign.pk)
            )
            if not locked.post.is_published or not locked.is_open_at(timezone.now()):
                raise CampaignClosed()
            limit = locked.max_participants
            if limit is not None and places_taken(locked) >= limit:
                raise CampaignFull()
            # Mirrored after commit by the ShareReward save hook (rewards.mirror).
            return ShareReward.objects.create(
                user=user,
                campaign=locked,
                x_connection=x_connection,
                status=Status.PENDING,
                bux_rewarded=amount,
            )
    except IntegrityError:
        existing = ShareReward.objects.filter(user=user, campaign=campaign).first()
        if existing is None:
            raise
        if existing.status == Status.PENDING:
            raise ShareInProgress(existing) from None
        raise AlreadyShared(existing) from None


def verify_share_reward(
    reward: ShareReward, *, retweet_id: str, liked: bool
) -> ShareReward:
    """pending → verified, count the share, and queue the mint after commit."""
    now = timezone.now()
    with transaction.atomic():
        # The campaign row first, as create_pending_reward locks it: a claim waiting
        # on this reward's unique key while holding the campaign would otherwise
        # deadlock with us. A refused update below rolls the count back.
        ShareCampaign.objects.filter(pk=reward.campaign_id).update(
            total_shares=F("total_shares") + 1
        )
        updated = ShareReward.objects.filter(
            pk=reward.pk, status=Status.PENDING
        ).update(
            status=Status.VERIFIED,
            retweet_id=retweet_id,
            liked=liked,
            verified_at=now,
            updated_at=now,
        )
        if updated != 1:
            raise AlreadyShared(ShareReward.objects.get(pk=reward.pk))
        _sync_after_commit(reward)
        transaction.on_commit(lambda: _enqueue_mint(reward.pk))
    reward.status, reward.retweet_id, reward.liked = Status.VERIFIED, retweet_id, liked
    reward.verified_at = reward.updated_at = now
    return reward


def _enqueue_mint(reward_id: int) -> None:
    from rewards.services import request_mint

    request_mint(reward_id)


def mark_rewarded(reward: ShareReward, *, tx_hash: str) -> bool:
    """verified → rewarded with the mint's transaction; False if it already moved on."""
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
            _sync_after_commit(reward)
    return updated == 1


def mark_failed(reward: ShareReward, reason: str) -> bool:
    """An operator's decision that a reward will not be minted (verified → failed)."""
    with transaction.atomic():
        # A reward flagged for an operator keeps its unanswered mint's stamp; the
        # operator closing it has checked the minter's records.
        updated = (
            ShareReward.objects.filter(pk=reward.pk, status=Status.VERIFIED)
            .filter(Q(mint_started_at__isnull=True) | Q(needs_operator=True))
            .update(
                status=Status.FAILED,
                failure_reason=reason,
                needs_operator=False,
                updated_at=timezone.now(),
            )
        )
        if updated:
            _sync_after_commit(reward)
    return updated == 1


def delete_share_reward(reward: ShareReward) -> bool:
    """Remove a claim whose share did not happen; never a verified or rewarded row."""
    with transaction.atomic():
        deleted, _ = ShareReward.objects.filter(
            pk=reward.pk, status=Status.PENDING
        ).delete()
        if deleted:
            _sync_after_commit(reward)
    return deleted == 1


# --- The Retweet & Like flow ----------------------------------------------------------


@dataclass(frozen=True)
class ShareOutcome:
    ok: bool
    message: str
    reward: ShareReward | None = None
    reconnect: bool = False
    rate_limited: bool = False


def share_to_x(
    user: User, campaign: ShareCampaign, *, client: XApiClient | None = None
) -> ShareOutcome:
    """Retweet (and like) the campaign's tweet for the user, and grant the reward."""
    connection = get_x_connection_for_user(user)
    if connection is None:
        return ShareOutcome(
            False, "Please connect your X account first", reconnect=True
        )
    if is_score_pending(connection):
        # The reward is the score times the base: sharing now would pay the default.
        return ShareOutcome(False, SCORE_PENDING_MESSAGE)
    # The connection row is loaded already: its score is the multiplier.
    amount = reward_amount(campaign, connection.x_score or 1)
    try:
        reward = create_pending_reward(user, campaign, connection, amount=amount)
    except AlreadyShared as refused:
        return ShareOutcome(False, refused.user_message, reward=refused.reward)
    except ShareRefused as refused:
        return ShareOutcome(False, refused.user_message)

    # X is called outside any transaction: the pending row already holds the place.
    # The writes after it survive a database connection that died during the call.
    try:
        result = _retweet_and_like(connection, campaign, client)
    except XReconnectRequired as error:
        retry_if_connection_dropped(delete_share_reward, reward)
        return ShareOutcome(False, error.user_message, reconnect=True)
    except XUnauthorized:
        retry_if_connection_dropped(delete_share_reward, reward)
        disconnect_x_account(user, revoke=False)
        return ShareOutcome(False, XReconnectRequired.user_message, reconnect=True)
    except XApiError as error:
        retry_if_connection_dropped(delete_share_reward, reward)
        logger.info(
            "share of campaign %s by user %s failed: %s",
            campaign.pk,
            user.pk,
            error.detail,
        )
        return ShareOutcome(
            False, share_error_message(error), rate_limited=error.status == 429
        )
    except BaseException:
        retry_if_connection_dropped(delete_share_reward, reward)
        raise

    reward = retry_if_connection_dropped(
        verify_share_reward, reward, retweet_id=campaign.tweet_id, liked=result.liked
    )
    earned = f"{reward.bux_rewarded:,.0f}"
    if result.liked:
        return ShareOutcome(
            True, f"Retweeted & Liked! You earned {earned} BUX!", reward
        )
    return ShareOutcome(True, f"Retweeted! You earned {earned} BUX!", reward)


def _retweet_and_like(
    connection: XConnection, campaign: ShareCampaign, client: XApiClient | None
) -> ShareResult:
    client = client or XApiClient.from_settings()
    connection = maybe_refresh_token(connection, client=client)
    like = campaign.request_like and settings.X_LIKES_ENABLED
    result = client.retweet_and_like(
        get_access_token(connection), connection.x_user_id, campaign.tweet_id, like=like
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
    if isinstance(error, XBadRequest) and error.status == 400:
        return "X rejected the retweet: " + ("; ".join(error.messages) or error.detail)
    if isinstance(error, XForbidden):
        return "; ".join(error.messages) or (
            "Forbidden - you may have already retweeted this post"
        )
    return error.user_message


# A claim older than this was left by a share attempt that died before X answered.
STALE_CLAIM_AGE = timedelta(minutes=2)


def purge_stale_pending_rewards(*, older_than: timedelta = STALE_CLAIM_AGE) -> int:
    """Free claims left by share attempts that died before X answered (a killed web
    process). The reader can then try again; X answers a repeat retweet as done."""
    cutoff = timezone.now() - older_than
    stale = list(
        ShareReward.objects.filter(status=Status.PENDING, created_at__lt=cutoff)
    )
    return sum(delete_share_reward(reward) for reward in stale)
