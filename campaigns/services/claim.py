"""Claiming a reward: a reader's place in a campaign (pending), then the share X
accepted: shared while it is confirmed on X (confirm.py), or verified at once when
the campaign's policy does not confirm it; a verified share queues the mint.

A reward is granted at most once: the (user, campaign tweet) unique constraint
claims the pair, the reader's row lock keeps one reward per reader and tweet across
campaigns, the campaign row lock keeps `max_participants` (readers, each holding one
place for all the campaign's tweets), and every status change is a conditional
UPDATE from the status it expects. Claims held while X answers are leased
(lease.py). A share that failed for want of a confirmation on X
(ShareReward.can_retry) is reset into the reader's next claim: the pair's one row
is claimed again. From verified on, the reward belongs to rewards.services
(minting).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from accounts.models import User
from accounts.services import BARRED_FOR_UNDONE_SHARES, is_barred_for_undone_shares
from rewards.mirror.write import sync_after_commit
from rewards.reasons import RETRYABLE_FAILURES
from rewards.services import request_mint
from social.models import SharingPause, XConnection
from social.spend import SHARING_PAUSED_MESSAGE

from ..models import PLACE_HOLDING, CampaignTweet, ShareCampaign, ShareReward
from .budget import BUDGET_SPENT_MESSAGE, campaign_usage, note_claim
from .confirm_queue import request_confirmation

logger = logging.getLogger(__name__)

Status = ShareReward.Status


class ShareRefused(Exception):
    """The share cannot start; `user_message` says why."""

    user_message = "This share is not possible right now."


class CampaignClosed(ShareRefused):
    user_message = "This campaign is no longer running."


class CampaignFull(ShareRefused):
    user_message = "This campaign has reached its maximum number of participants."


class BudgetSpent(CampaignFull):
    """The reward would take the campaign past its BUX budget."""

    user_message = BUDGET_SPENT_MESSAGE


class AlreadyShared(ShareRefused):
    user_message = "You've already shared this article!"

    def __init__(self, reward: ShareReward):
        super().__init__(self.user_message)
        self.reward = reward


class ShareInProgress(AlreadyShared):
    user_message = "Your share is already on its way to X."


class SharingPaused(ShareRefused):
    user_message = SHARING_PAUSED_MESSAGE


class BarredForUndoneShares(ShareRefused):
    user_message = BARRED_FOR_UNDONE_SHARES


class TweetAlreadyShared(ShareRefused):
    """The reader already has a reward for this tweet, from another campaign."""

    def __init__(self, earlier: ShareReward):
        self.user_message = (
            f"You've already shared this tweet from “{earlier.campaign.post.title}”: "
            "a tweet earns BUX once."
        )
        super().__init__(self.user_message)


class TweetRemoved(ShareRefused):
    """Staff took the tweet out of the campaign while the reader pressed."""

    user_message = "This post is no longer part of the campaign."


class PlaceLost(ShareRefused):
    user_message = (
        "Your retweet went through, but the campaign's last place was taken while X "
        "was answering, so this share earns no BUX."
    )


def create_pending_reward(
    user: User,
    campaign: ShareCampaign,
    x_connection: XConnection,
    *,
    amount: Decimal,
    tweet: CampaignTweet | None = None,
) -> ShareReward:
    """Claim the (user, tweet) pair, `tweet` being one of the campaign's (its first
    unless told), and the reader's place in the campaign unless they hold one.

    Raises SharingPaused, CampaignClosed, CampaignFull, BudgetSpent,
    BarredForUndoneShares, TweetAlreadyShared, AlreadyShared or ShareInProgress.
    """
    tweet = tweet or campaign.first_tweet
    if tweet.campaign_id != campaign.pk:
        raise ShareRefused()
    return _claim(
        user.pk,
        campaign.pk,
        tweet,
        x_connection.pk,
        amount=amount,
        must_be_open=True,
    )


def _claim(
    user_id: int,
    campaign_id: int,
    tweet: CampaignTweet,
    x_connection_id: int | None,
    *,
    amount: Decimal | None,
    must_be_open: bool,
) -> ShareReward:
    try:
        with transaction.atomic():
            # The reader's row lock serialises their claims, so two campaigns of one
            # tweet (as existed before the one-active-campaign rule) cannot both
            # pass the tweet check below, nor two presses both reset a failed share.
            # Whether sharing is paused site-wide comes with it: no statement of
            # its own, and no X call once an operator's pause has committed.
            reader = (
                User.objects.select_for_update(no_key=True, of=("self",))
                .only("undone_shares", "undone_shares_forgiven")
                .annotate(
                    sharing_paused=Exists(SharingPause.objects.filter(active=True))
                )
                .get(pk=user_id)
            )
            if must_be_open and reader.sharing_paused:
                raise SharingPaused()
            if must_be_open and is_barred_for_undone_shares(reader):
                raise BarredForUndoneShares()
            # The campaign row lock serialises claims, so the places and BUX counted
            # below cannot be overtaken by a concurrent claim.
            locked = (
                ShareCampaign.objects.select_for_update(no_key=True, of=("self",))
                .select_related("post")
                .get(pk=campaign_id)
            )
            mine = _readers_rewards(user_id, locked, tweet)
            existing, earlier = mine.existing, mine.earlier
            if existing is not None and not existing.can_retry:
                raise _already(existing)
            if must_be_open and (
                not locked.post.is_published or not locked.is_open_at(timezone.now())
            ):
                raise CampaignClosed()
            usage = campaign_usage(locked)
            if not mine.holds_place and locked.is_full_with(usage.places):
                raise CampaignFull()
            if not usage.can_pay(locked, amount or Decimal("0")):
                raise BudgetSpent()
            if earlier is not None:
                raise TweetAlreadyShared(earlier)
            if existing is not None:
                reward = _claim_again(existing, x_connection_id, amount=amount)
            else:
                reward = ShareReward.objects.create(
                    user_id=user_id,
                    campaign=locked,
                    campaign_tweet=tweet,
                    x_connection_id=x_connection_id,
                    status=Status.PENDING,
                    bux_rewarded=amount,
                )
            note_claim(
                locked,
                usage,
                amount=amount or Decimal("0"),
                new_place=not mine.holds_place,
            )
            sync_after_commit(reward)
            return reward
    except IntegrityError:
        existing = ShareReward.objects.filter(
            user_id=user_id, campaign_tweet_id=tweet.pk
        ).first()
        if existing is not None:
            raise _already(existing) from None
        if not CampaignTweet.objects.filter(pk=tweet.pk).exists():
            # The reward's tweet was deleted after the reader's page named it.
            raise TweetRemoved() from None
        raise


@dataclass(frozen=True)
class ReadersRewards:
    # The reader's reward for this tweet of this campaign.
    existing: ShareReward | None
    # Their first reward for the same tweet from another campaign.
    earlier: ShareReward | None
    # They hold a place in the campaign by a share of another of its tweets.
    holds_place: bool


def _readers_rewards(
    user_id: int, campaign: ShareCampaign, tweet: CampaignTweet
) -> ReadersRewards:
    """In one query, the reader's rewards in this campaign and for this tweet from
    other campaigns (a share that failed for want of a confirmation on X does not
    count there: it earned nothing)."""
    rewards = (
        ShareReward.objects.filter(user_id=user_id)
        .filter(Q(campaign_id=campaign.pk) | Q(campaign_tweet__tweet_id=tweet.tweet_id))
        .exclude(
            ~Q(campaign_id=campaign.pk),
            status=Status.FAILED,
            failure_reason__in=RETRYABLE_FAILURES,
        )
        .select_related("campaign__post")
        .order_by("pk")
    )
    existing = earlier = None
    holds_place = False
    for reward in rewards:
        if reward.campaign_tweet_id == tweet.pk:
            existing = reward
        elif reward.campaign_id == campaign.pk:
            holds_place = holds_place or reward.status in PLACE_HOLDING
        elif earlier is None:
            earlier = reward
    return ReadersRewards(existing, earlier, holds_place)


def _already(existing: ShareReward) -> AlreadyShared:
    if existing.status in (Status.PENDING, Status.SHARED):
        return ShareInProgress(existing)
    return AlreadyShared(existing)


def _claim_again(
    failed: ShareReward, x_connection_id: int | None, *, amount: Decimal | None
) -> ShareReward:
    """The reader's fresh attempt after a share failed for want of a confirmation
    on X: the same row becomes the new claim (the pair has one row), its earlier
    failure logged. Runs under the reader's and the campaign's row locks."""
    claimed = ShareReward.objects.filter(
        pk=failed.pk, status=Status.FAILED, failure_reason__in=RETRYABLE_FAILURES
    ).update(
        status=Status.PENDING,
        x_connection_id=x_connection_id,
        bux_rewarded=amount,
        failure_reason="",
        retweet_id="",
        liked=False,
        shared_at=None,
        confirm_attempts=0,
        retweet_post_id="",
        verified_at=None,
        claim_renewed_at=Now(),
        updated_at=timezone.now(),
    )
    if claimed != 1:
        raise ShareRefused()
    logger.info(
        "reward %s of user %s on campaign %s (tweet %s) claimed again after: %s",
        failed.pk,
        failed.user_id,
        failed.campaign_id,
        failed.campaign_tweet_id,
        failed.failure_reason,
    )
    return ShareReward.objects.get(pk=failed.pk)


def verify_share_reward(
    reward: ShareReward, *, retweet_id: str, liked: bool
) -> ShareReward:
    """pending → verified, count the share, and queue the mint after commit: X's
    answer is enough (the campaign's policy does not confirm this share).

    X has retweeted by now. If the claim was freed meanwhile (its request could not
    renew it), the place is claimed again: raises PlaceLost when the campaign has
    none left, AlreadyShared or TweetAlreadyShared when another claim of the reader
    took over.
    """
    return _after_x_accepted(
        reward,
        partial(
            _mark_verified,
            from_status=Status.PENDING,
            retweet_id=retweet_id,
            liked=liked,
        ),
    )


def mark_shared(reward: ShareReward, *, retweet_id: str, liked: bool) -> ShareReward:
    """pending → shared: X accepted the retweet, and it is looked for on the reader's
    timeline before anything is minted (the confirmation task is queued after
    commit). The place and the amount stay held. A claim freed meanwhile is claimed
    again, as verify_share_reward does."""
    return _after_x_accepted(
        reward, partial(_mark_shared, retweet_id=retweet_id, liked=liked)
    )


def _after_x_accepted(
    reward: ShareReward, mark: Callable[[ShareReward], bool]
) -> ShareReward:
    if mark(reward):
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
        tweet = CampaignTweet.objects.filter(pk=reward.campaign_tweet_id).first()
        if tweet is None:
            raise TweetRemoved()
        again = _claim(
            reward.user_id,
            reward.campaign_id,
            tweet,
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
    if not mark(again):
        raise ShareRefused()
    return again


def _mark_shared(reward: ShareReward, *, retweet_id: str, liked: bool) -> bool:
    now = timezone.now()
    changes = {"retweet_id": retweet_id, "liked": liked, "shared_at": now}
    with transaction.atomic():
        updated = ShareReward.objects.filter(
            pk=reward.pk, status=Status.PENDING
        ).update(status=Status.SHARED, confirm_attempts=0, updated_at=now, **changes)
        if updated != 1:
            return False
        sync_after_commit(reward)
        # X's timelines lag behind its writes: the first look waits a little.
        delay = settings.X_VERIFY_FIRST_DELAY_SECONDS
        transaction.on_commit(partial(request_confirmation, reward.pk, delay=delay))
    for name, value in changes.items():
        setattr(reward, name, value)
    reward.status, reward.updated_at = Status.SHARED, now
    return True


def confirm_share_reward(
    reward: ShareReward, *, retweet_post_id: str, like_seen: bool | None = None
) -> bool:
    """shared → verified: the retweet was seen on the reader's timeline (never
    called otherwise); counts the share and queues the mint after commit. A like
    looked for and not seen (`like_seen=False`) is recorded as not made. False if
    the reward is no longer shared."""
    changes: dict[str, object] = {"retweet_post_id": retweet_post_id}
    if like_seen is False:
        changes["liked"] = False
    return _mark_verified(reward, from_status=Status.SHARED, **changes)


def _mark_verified(reward: ShareReward, *, from_status: str, **changes: object) -> bool:
    now = timezone.now()
    reward_id = reward.pk
    with transaction.atomic():
        # The campaign row first, as _claim locks it: a claim waiting on this
        # reward's unique key while holding the campaign would otherwise deadlock
        # with us.
        ShareCampaign.objects.filter(pk=reward.campaign_id).update(
            total_shares=F("total_shares") + 1
        )
        updated = ShareReward.objects.filter(pk=reward_id, status=from_status).update(
            status=Status.VERIFIED,
            verified_at=now,
            updated_at=now,
            failure_reason="",
            **changes,
        )
        if updated != 1:
            transaction.set_rollback(True)  # the count above
            return False
        sync_after_commit(reward)
        transaction.on_commit(partial(request_mint, reward_id))
    for name, value in changes.items():
        setattr(reward, name, value)
    reward.status, reward.failure_reason = Status.VERIFIED, ""
    reward.verified_at = reward.updated_at = now
    return True


def delete_share_reward(reward: ShareReward) -> bool:
    """Remove a claim whose share did not happen; never a verified or rewarded row."""
    with transaction.atomic():
        deleted, _ = ShareReward.objects.filter(
            pk=reward.pk, status=Status.PENDING
        ).delete()
        if deleted:
            sync_after_commit(reward)
    return deleted == 1
