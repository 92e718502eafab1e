"""Share campaigns and the Retweet & Like flow: where BUX rewards are granted.

A reward is granted at most once: the (user, campaign) unique constraint claims the
pair, the reader's row lock keeps one reward per reader and tweet, the campaign row
lock keeps `max_participants`, and every status change is a conditional UPDATE from
the status it expects. A tweet is in one active campaign at a time (a partial unique
index). Claims held while X answers are leased (campaigns.claims).
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
from rewards.reasons import failure_reason
from social.models import XConnection
from social.services import (
    XReconnectRequired,
    get_access_token,
    get_x_connection_for_user,
    maybe_refresh_token,
    require_reconnect,
)
from social.x_api import (
    ShareResult,
    XApiClient,
    XApiError,
    XBadRequest,
    XForbidden,
    XUnauthorized,
)

from .claims import STALE_CLAIM_AGE as STALE_CLAIM_AGE
from .claims import hold_claim
from .claims import purge_stale_pending_rewards as purge_stale_pending_rewards
from .models import ACTIVE_TWEET_CONSTRAINT, ShareCampaign, ShareReward

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
    if campaign.is_active and (
        other := active_campaign_for_tweet(campaign.tweet_id, other_than=campaign)
    ):
        raise tweet_in_use_error(other)
    # The tweet id comes from the parsed URL, and its rule is checked above with
    # the other campaign named.
    campaign.full_clean(exclude=["tweet_id"])
    try:
        with transaction.atomic():
            campaign.save()
    except IntegrityError as error:
        # Another campaign took the tweet after the check above.
        if not violates_one_active_campaign_per_tweet(error):
            raise
        raise tweet_taken_error(campaign) from None
    return campaign


def get_campaign_for_post(post: Post) -> ShareCampaign | None:
    return ShareCampaign.objects.filter(post=post).first()


def set_campaign_active(campaign: ShareCampaign, *, active: bool) -> ShareCampaign:
    """Raises ValidationError, naming the other campaign, when activating would put
    the tweet in two active campaigns."""
    try:
        with transaction.atomic():
            ShareCampaign.objects.filter(pk=campaign.pk).update(
                is_active=active, updated_at=timezone.now()
            )
    except IntegrityError as error:
        if not violates_one_active_campaign_per_tweet(error):
            raise
        raise tweet_taken_error(campaign) from None
    campaign.is_active = active
    return campaign


def active_campaign_for_tweet(
    tweet_id: str, *, other_than: ShareCampaign
) -> ShareCampaign | None:
    """The active campaign with this tweet, other than the one being saved (the
    database allows one)."""
    others = ShareCampaign.objects.filter(tweet_id=tweet_id, is_active=True)
    if other_than.pk is not None:
        others = others.exclude(pk=other_than.pk)
    return others.select_related("post").first()


def tweet_in_use_error(other: ShareCampaign) -> ValidationError:
    return ValidationError(
        "This tweet is already in the active campaign for “%(post)s” (campaign "
        "%(id)s). A tweet can be in one active campaign at a time: deactivate that "
        "campaign first, or save this one as inactive.",
        code="tweet_in_use",
        params={"post": other.post.title, "id": other.pk},
    )


def tweet_taken_error(campaign: ShareCampaign) -> ValidationError:
    """The error for a save the database refused under the one-active-campaign rule."""
    other = active_campaign_for_tweet(campaign.tweet_id, other_than=campaign)
    if other is not None:
        return tweet_in_use_error(other)
    return ValidationError(
        "Another active campaign was using this tweet: try again.", code="tweet_in_use"
    )


def violates_one_active_campaign_per_tweet(error: IntegrityError) -> bool:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == ACTIVE_TWEET_CONSTRAINT


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


class TweetAlreadyShared(ShareRefused):
    """The reader already has a reward for this tweet, from another campaign."""

    def __init__(self, earlier: ShareReward):
        self.user_message = (
            f"You've already shared this tweet from “{earlier.campaign.post.title}”: "
            "a tweet earns BUX once."
        )
        super().__init__(self.user_message)


class PlaceLost(ShareRefused):
    user_message = (
        "Your retweet went through, but the campaign's last place was taken while X "
        "was answering, so this share earns no BUX."
    )


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

    Raises CampaignClosed, CampaignFull, TweetAlreadyShared, AlreadyShared or
    ShareInProgress.
    """
    return _claim(
        user.pk, campaign.pk, x_connection.pk, amount=amount, must_be_open=True
    )


def _claim(
    user_id: int,
    campaign_id: int,
    x_connection_id: int | None,
    *,
    amount: Decimal | None,
    must_be_open: bool,
) -> ShareReward:
    try:
        with transaction.atomic():
            # The reader's row lock serialises their claims, so two campaigns of one
            # tweet (as existed before the one-active-campaign rule) cannot both
            # pass the tweet check below.
            User.objects.select_for_update(no_key=True).values_list("pk").get(
                pk=user_id
            )
            # The campaign row lock serialises claims, so the place count below cannot
            # be overtaken by a concurrent claim.
            locked = (
                ShareCampaign.objects.select_for_update(no_key=True, of=("self",))
                .select_related("post")
                .get(pk=campaign_id)
            )
            if must_be_open and (
                not locked.post.is_published or not locked.is_open_at(timezone.now())
            ):
                raise CampaignClosed()
            limit = locked.max_participants
            if limit is not None and places_taken(locked) >= limit:
                raise CampaignFull()
            earlier = (
                ShareReward.objects.filter(
                    user_id=user_id, campaign__tweet_id=locked.tweet_id
                )
                .exclude(campaign_id=locked.pk)
                .select_related("campaign__post")
                .first()
            )
            if earlier is not None:
                raise TweetAlreadyShared(earlier)
            # Mirrored after commit by the ShareReward save hook (rewards.mirror).
            return ShareReward.objects.create(
                user_id=user_id,
                campaign=locked,
                x_connection_id=x_connection_id,
                status=Status.PENDING,
                bux_rewarded=amount,
            )
    except IntegrityError:
        existing = ShareReward.objects.filter(
            user_id=user_id, campaign_id=campaign_id
        ).first()
        if existing is None:
            raise
        if existing.status == Status.PENDING:
            raise ShareInProgress(existing) from None
        raise AlreadyShared(existing) from None


def verify_share_reward(
    reward: ShareReward, *, retweet_id: str, liked: bool
) -> ShareReward:
    """pending → verified, count the share, and queue the mint after commit.

    X has retweeted by now. If the claim was freed meanwhile (its request could not
    renew it), the place is claimed again: raises PlaceLost when the campaign has
    none left, AlreadyShared or TweetAlreadyShared when another claim of the reader
    took over.
    """
    if _mark_verified(reward, retweet_id=retweet_id, liked=liked):
        return reward
    current = ShareReward.objects.filter(pk=reward.pk).first()
    if current is not None:
        # Only this request verifies its claim: it did so before a dropped
        # connection made it repeat the call.
        return current
    logger.warning(
        "claim %s of user %s on campaign %s was freed while X answered; "
        "claiming the place again",
        reward.pk,
        reward.user_id,
        reward.campaign_id,
    )
    try:
        again = _claim(
            reward.user_id,
            reward.campaign_id,
            reward.x_connection_id,
            amount=reward.bux_rewarded,
            must_be_open=False,  # it was open when the reader shared
        )
    except CampaignFull:
        logger.warning(
            "user %s retweeted for campaign %s but its place was taken meanwhile",
            reward.user_id,
            reward.campaign_id,
        )
        raise PlaceLost() from None
    if not _mark_verified(again, retweet_id=retweet_id, liked=liked):
        raise ShareRefused()
    return again


def _mark_verified(reward: ShareReward, *, retweet_id: str, liked: bool) -> bool:
    now = timezone.now()
    reward_id = reward.pk
    with transaction.atomic():
        # The campaign row first, as _claim locks it: a claim waiting on this
        # reward's unique key while holding the campaign would otherwise deadlock
        # with us.
        ShareCampaign.objects.filter(pk=reward.campaign_id).update(
            total_shares=F("total_shares") + 1
        )
        updated = ShareReward.objects.filter(
            pk=reward_id, status=Status.PENDING
        ).update(
            status=Status.VERIFIED,
            retweet_id=retweet_id,
            liked=liked,
            verified_at=now,
            updated_at=now,
        )
        if updated != 1:
            transaction.set_rollback(True)  # the count above
            return False
        _sync_after_commit(reward)
        transaction.on_commit(lambda: _enqueue_mint(reward_id))
    reward.status, reward.retweet_id, reward.liked = Status.VERIFIED, retweet_id, liked
    reward.verified_at = reward.updated_at = now
    return True


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
                failure_reason=failure_reason(reason),
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

    # X is called outside any transaction: the pending row already holds the place,
    # renewed for as long as X takes. The writes after it survive a database
    # connection that died during the call.
    try:
        with hold_claim(reward):
            result = _retweet_and_like(connection, campaign, client)
    except XReconnectRequired as error:
        retry_if_connection_dropped(delete_share_reward, reward)
        return ShareOutcome(False, error.user_message, reconnect=True)
    except XUnauthorized:
        retry_if_connection_dropped(delete_share_reward, reward)
        require_reconnect(user, reason="access_token_refused")
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

    try:
        reward = retry_if_connection_dropped(
            verify_share_reward,
            reward,
            retweet_id=campaign.tweet_id,
            liked=result.liked,
        )
    except AlreadyShared as refused:
        return ShareOutcome(False, refused.user_message, reward=refused.reward)
    except ShareRefused as refused:
        return ShareOutcome(False, refused.user_message)
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
