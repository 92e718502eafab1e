"""Share campaigns: creating them from a tweet URL, switching them on and off (one
active campaign per tweet), and their statistics."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from posts.models import Post
from social.x_api import XTweetCard

from ..models import (
    ACTIVE_TWEET_CONSTRAINT,
    MINTED_STATUSES,
    PLACE_HOLDING,
    ShareCampaign,
    ShareReward,
)
from .tweets import apply_tweet_card

Status = ShareReward.Status
MINTED = MINTED_STATUSES

TWEET_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter\.com|x\.com)/"
    r"(?P<handle>[A-Za-z0-9_]{1,15})/status(?:es)?/(?P<id>\d{1,19})/?(?:[?#].*)?$"
)


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
    bux_budget: Decimal | None = None,
    close_when_spent: bool = False,
    tweet: XTweetCard | None = None,
) -> ShareCampaign:
    """A campaign on `post`; `tweet`, the tweet as X shows it, fills its card."""
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
        bux_budget=bux_budget,
        close_when_spent=close_when_spent,
    )
    if tweet is not None:
        apply_tweet_card(campaign, tweet)
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
    """A campaign's rewards counted by status, and the BUX paid out (the spec's map,
    with the confirmation's `shared` and the audit's `undone`)."""

    total: int
    pending: int
    shared: int
    verified: int
    rewarded: int
    failed: int
    undone: int
    total_bux: Decimal


def get_campaign_stats(campaign: ShareCampaign) -> CampaignStats:
    counts = ShareReward.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        pending=Count("pk", filter=Q(status=Status.PENDING)),
        shared=Count("pk", filter=Q(status=Status.SHARED)),
        verified=Count("pk", filter=Q(status=Status.VERIFIED)),
        rewarded=Count("pk", filter=Q(status=Status.REWARDED)),
        failed=Count("pk", filter=Q(status=Status.FAILED)),
        undone=Count("pk", filter=Q(status=Status.UNDONE)),
        # Minted BUX: an undone share's stay minted.
        total_bux=Sum("bux_rewarded", filter=Q(status__in=MINTED)),
    )
    return CampaignStats(
        total=counts["total"],
        pending=counts["pending"],
        shared=counts["shared"],
        verified=counts["verified"],
        rewarded=counts["rewarded"],
        failed=counts["failed"],
        undone=counts["undone"],
        total_bux=counts["total_bux"] or Decimal("0"),
    )


def places_taken(campaign: ShareCampaign) -> int:
    return ShareReward.objects.filter(
        campaign=campaign, status__in=PLACE_HOLDING
    ).count()


def is_campaign_full(campaign: ShareCampaign) -> bool:
    # A campaign without a limit is never full: no need to count.
    return campaign.max_participants is not None and campaign.is_full_with(
        places_taken(campaign)
    )
