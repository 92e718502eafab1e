"""A campaign's tweet as X shows it: read with the app's token when staff add it,
kept for the share box's card, and marked deleted once X says it is gone."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.utils import timezone

from social.x_api import (
    XApiClient,
    XApiError,
    XNotFound,
    XTweetCard,
    XUnauthorized,
)

from ..models import CampaignTweet

logger = logging.getLogger(__name__)

# What a reader sees once the campaign's tweet is gone from X.
TWEET_DELETED_MESSAGE = "This post is no longer on X"


def read_campaign_tweet(
    tweet_id: str, *, client: XApiClient | None = None
) -> XTweetCard:
    """The tweet with its author, from X; ValidationError, in words for staff, when X
    does not show it to everyone or cannot be asked."""
    client = client or XApiClient.from_settings()
    try:
        return client.get_tweet_card(tweet_id)
    except XNotFound:
        raise ValidationError(
            "X does not show this post to the public: it does not exist, was "
            "deleted, or its account is protected. Readers could not retweet it.",
            code="tweet_not_public",
        ) from None
    except XUnauthorized:
        raise ValidationError(
            "X refused the site's app credentials (X_BEARER_TOKEN), so the post "
            "could not be read: the operator must set a valid token.",
            code="tweet_unreadable",
        ) from None
    except XApiError as error:
        logger.warning("reading tweet %s from X failed: %s", tweet_id, error.detail)
        raise ValidationError(
            "X could not be asked about this post (%(reason)s). Try saving again "
            "in a moment.",
            code="tweet_unreadable",
            params={"reason": error.user_message},
        ) from None


def apply_tweet_card(tweet: CampaignTweet, card: XTweetCard) -> None:
    """Copy the card onto the campaign's tweet (TWEET_CARD_FIELDS), not saved."""
    tweet.tweet_text = card.text
    tweet.tweet_author_name = card.author_name[:50]
    tweet.tweet_author_username = card.author_username[:50]
    tweet.tweet_posted_at = card.created_at
    # A tweet read just now is on X, whatever became of it before.
    tweet.tweet_deleted_at = None


TWEET_CARD_FIELDS = (
    "tweet_text",
    "tweet_author_name",
    "tweet_author_username",
    "tweet_posted_at",
    "tweet_deleted_at",
)


def mark_tweet_deleted(tweet: CampaignTweet) -> CampaignTweet:
    """X answered "not found" for a campaign's tweet (a retweet of it, or the read
    of it before a share's missing retweet is judged): its author deleted it.
    Recorded once; shares of it are refused from then on."""
    now = timezone.now()
    updated = CampaignTweet.objects.filter(
        pk=tweet.pk, tweet_deleted_at__isnull=True
    ).update(tweet_deleted_at=now)
    tweet.tweet_deleted_at = tweet.tweet_deleted_at or now
    if updated:
        logger.warning(
            "campaign %s: tweet %s is no longer on X", tweet.campaign_id, tweet.tweet_id
        )
    return tweet
