"""Share campaigns: creating them from tweet URLs, changing their tweets, switching
them on and off (one active campaign per tweet), and their statistics."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
    CampaignTweet,
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
    tweet_url: str | None = None,
    tweet_urls: Sequence[str] = (),
    bux_reward: Decimal = Decimal("50"),
    is_active: bool = True,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    max_participants: int | None = None,
    request_like: bool = True,
    bux_budget: Decimal | None = None,
    close_when_spent: bool = False,
    verify_shares: str = "",
    tweet: XTweetCard | None = None,
    cards: Mapping[str, XTweetCard] | None = None,
) -> ShareCampaign:
    """A campaign on `post` sharing `tweet_url`, or the tweets of `tweet_urls` in
    order. `tweet` (with `tweet_url`) or `cards` (by tweet id), the tweets as X
    shows them, fill their cards."""
    urls = [tweet_url] if tweet_url is not None else list(tweet_urls)
    cards = dict(cards or {})
    campaign = ShareCampaign(
        post=post,
        bux_reward=bux_reward,
        is_active=is_active,
        starts_at=starts_at,
        ends_at=ends_at,
        max_participants=max_participants,
        request_like=request_like,
        bux_budget=bux_budget,
        close_when_spent=close_when_spent,
        verify_shares=verify_shares,
    )
    tweets = new_campaign_tweets(urls)
    if tweet is not None and len(tweets) == 1:
        cards[tweets[0].tweet_id] = tweet
    for new in tweets:
        if new.tweet_id in cards:
            apply_tweet_card(new, cards[new.tweet_id])
    if campaign.is_active:
        for new in tweets:
            if other := active_campaign_for_tweet(new.tweet_id, other_than=campaign):
                raise tweet_in_use_error(other)
    campaign.full_clean()
    try:
        with transaction.atomic():
            campaign.save()
            for new in tweets:
                new.campaign = campaign
            CampaignTweet.objects.bulk_create(tweets)
    except IntegrityError as error:
        # Another campaign took a tweet after the check above.
        if not violates_one_active_campaign_per_tweet(error):
            raise
        campaign.pk = None
        raise tweets_taken_error(campaign, [new.tweet_id for new in tweets]) from None
    return campaign


def new_campaign_tweets(urls: Sequence[str]) -> list[CampaignTweet]:
    """Unsaved tweets for these URLs, in order; ValidationError for a URL that is
    not a post on X, for none at all, or for one post listed twice."""
    if not urls:
        raise ValidationError(
            "Add the link of at least one post on X.", code="no_tweets"
        )
    tweets: list[CampaignTweet] = []
    for position, url in enumerate(urls):
        tweet_id = parse_tweet_url(url)
        if any(earlier.tweet_id == tweet_id for earlier in tweets):
            raise ValidationError(
                "The post %(url)s is listed twice.",
                code="tweet_listed_twice",
                params={"url": url.strip()},
            )
        tweets.append(
            CampaignTweet(position=position, tweet_id=tweet_id, tweet_url=url.strip())
        )
    return tweets


def set_campaign_tweets(
    campaign: ShareCampaign,
    urls: Sequence[str],
    *,
    cards: Mapping[str, XTweetCard] | None = None,
) -> ShareCampaign:
    """Make the campaign's tweets those of `urls`, in order. A tweet already in it
    keeps its row and card and takes its new place; a new one gets its card from
    `cards` (by tweet id); one left out leaves the campaign unless readers shared
    it. ValidationError as new_campaign_tweets, shared_tweets_error and
    tweet_in_use_error say."""
    wanted = new_campaign_tweets(urls)
    cards = cards or {}
    added: list[CampaignTweet] = []
    try:
        with transaction.atomic():
            # Claims take this lock too, so no reader can share a tweet between the
            # count of its shares below and its removal.
            ShareCampaign.objects.select_for_update(no_key=True).only("pk").get(
                pk=campaign.pk
            )
            current = {
                tweet.tweet_id: tweet
                for tweet in CampaignTweet.objects.filter(campaign=campaign)
            }
            wanted_ids = {tweet.tweet_id for tweet in wanted}
            removed = [t for t in current.values() if t.tweet_id not in wanted_ids]
            if refused := shared_tweets_error(removed):
                raise refused
            CampaignTweet.objects.filter(pk__in=[t.pk for t in removed]).delete()
            for new in wanted:
                kept = current.get(new.tweet_id)
                if kept is None:
                    new.campaign = campaign
                    if new.tweet_id in cards:
                        apply_tweet_card(new, cards[new.tweet_id])
                    added.append(new)
                elif (kept.position, kept.tweet_url) != (new.position, new.tweet_url):
                    CampaignTweet.objects.filter(pk=kept.pk).update(
                        position=new.position, tweet_url=new.tweet_url
                    )
            CampaignTweet.objects.bulk_create(added)
    except IntegrityError as error:
        # Another campaign took a new tweet after the form's check.
        if not violates_one_active_campaign_per_tweet(error):
            raise
        raise tweets_taken_error(campaign, [t.tweet_id for t in added]) from None
    # Whatever the instance had read of its tweets is out of date.
    campaign.__dict__.pop("first_tweet", None)
    getattr(campaign, "_prefetched_objects_cache", {}).pop("tweets", None)
    return campaign


def shared_tweets_error(tweets: Sequence[CampaignTweet]) -> ValidationError | None:
    """The refusal to take these tweets out of their campaign, naming each one that
    readers shared (their rewards point at it), or None."""
    if not tweets:
        return None
    shares = dict(
        ShareReward.objects.filter(campaign_tweet__in=[t.pk for t in tweets])
        .values("campaign_tweet")
        .annotate(n=Count("pk"))
        .values_list("campaign_tweet", "n")
    )
    errors = []
    for tweet in tweets:
        # One reward per reader and tweet: its rewards are its readers.
        if readers := shares.get(tweet.pk, 0):
            errors.append(
                ValidationError(
                    "The post %(url)s was shared by %(readers)s: it stays in the "
                    "campaign. To stop its shares, deactivate the campaign instead.",
                    code="tweet_has_shares",
                    params={
                        "url": tweet.tweet_url,
                        "readers": f"{readers} reader{'s' if readers != 1 else ''}",
                    },
                )
            )
    return ValidationError(errors) if errors else None


def get_campaign_for_post(post: Post) -> ShareCampaign | None:
    return ShareCampaign.objects.filter(post=post).first()


def set_campaign_active(campaign: ShareCampaign, *, active: bool) -> ShareCampaign:
    """Raises ValidationError, naming the other campaign, when activating would put
    one of its tweets in two active campaigns."""
    try:
        with transaction.atomic():
            ShareCampaign.objects.filter(pk=campaign.pk).update(
                is_active=active, updated_at=timezone.now()
            )
    except IntegrityError as error:
        if not violates_one_active_campaign_per_tweet(error):
            raise
        tweet_ids = CampaignTweet.objects.filter(campaign=campaign).values_list(
            "tweet_id", flat=True
        )
        raise tweets_taken_error(campaign, list(tweet_ids)) from None
    campaign.is_active = active
    return campaign


def active_campaign_for_tweet(
    tweet_id: str, *, other_than: ShareCampaign
) -> ShareCampaign | None:
    """The active campaign with this tweet, other than the one being saved (the
    database allows one)."""
    others = CampaignTweet.objects.filter(tweet_id=tweet_id, campaign_is_active=True)
    if other_than.pk is not None:
        others = others.exclude(campaign_id=other_than.pk)
    found = others.select_related("campaign__post").first()
    return found.campaign if found is not None else None


def tweet_in_use_error(other: ShareCampaign) -> ValidationError:
    return ValidationError(
        "This tweet is already in the active campaign for “%(post)s” (campaign "
        "%(id)s). A tweet can be in one active campaign at a time: deactivate that "
        "campaign first, or save this one as inactive.",
        code="tweet_in_use",
        params={"post": other.post.title, "id": other.pk},
    )


def tweets_taken_error(
    campaign: ShareCampaign, tweet_ids: Sequence[str]
) -> ValidationError:
    """The error for a save the database refused under the one-active-campaign
    rule: names the other campaign of the first of `tweet_ids` that has one."""
    for tweet_id in tweet_ids:
        other = active_campaign_for_tweet(tweet_id, other_than=campaign)
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
    """Readers holding a place: each counts once, however many tweets they shared."""
    return (
        ShareReward.objects.filter(campaign=campaign, status__in=PLACE_HOLDING)
        .values("user_id")
        .distinct()
        .count()
    )


def is_campaign_full(campaign: ShareCampaign) -> bool:
    # A campaign without a limit is never full: no need to count.
    return campaign.max_participants is not None and campaign.is_full_with(
        places_taken(campaign)
    )
