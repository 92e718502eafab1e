"""Claiming a reward: a reader's place in a campaign (pending), then the verified
share that queues the mint.

A reward is granted at most once: the (user, campaign) unique constraint claims the
pair, the reader's row lock keeps one reward per reader and tweet, the campaign row
lock keeps `max_participants`, and every status change is a conditional UPDATE from
the status it expects. Claims held while X answers are leased (lease.py). From
verified on, the reward belongs to rewards.services (minting).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from rewards.mirror.write import sync_after_commit
from rewards.services import request_mint
from social.models import XConnection

from ..models import ShareCampaign, ShareReward
from .budget import BUDGET_SPENT_MESSAGE, campaign_usage, note_claim

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


def create_pending_reward(
    user: User, campaign: ShareCampaign, x_connection: XConnection, *, amount: Decimal
) -> ShareReward:
    """Claim the (user, campaign) pair and a place in the campaign.

    Raises CampaignClosed, CampaignFull, BudgetSpent, TweetAlreadyShared,
    AlreadyShared or ShareInProgress.
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
            # The campaign row lock serialises claims, so the places and BUX counted
            # below cannot be overtaken by a concurrent claim.
            locked = (
                ShareCampaign.objects.select_for_update(no_key=True, of=("self",))
                .select_related("post")
                .get(pk=campaign_id)
            )
            if must_be_open and (
                not locked.post.is_published or not locked.is_open_at(timezone.now())
            ):
                raise CampaignClosed()
            usage = campaign_usage(locked)
            if locked.is_full_with(usage.places):
                raise CampaignFull()
            if not usage.can_pay(locked, amount or Decimal("0")):
                raise BudgetSpent()
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
            reward = ShareReward.objects.create(
                user_id=user_id,
                campaign=locked,
                x_connection_id=x_connection_id,
                status=Status.PENDING,
                bux_rewarded=amount,
            )
            note_claim(locked, usage, amount=amount or Decimal("0"))
            sync_after_commit(reward)
            return reward
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
        sync_after_commit(reward)
        transaction.on_commit(partial(request_mint, reward_id))
    reward.status, reward.retweet_id, reward.liked = Status.VERIFIED, retweet_id, liked
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
