"""The X account quality score (1-100): the original formula, when it is due, and
saving it.

`calculate_score` is pure: metrics and tweets in, a breakdown out. The score becomes the
reader's `x_multiplier` for share rewards: rewards mirrors it from the connection's
post_save (see `calculate_and_save_score`). Queueing the calculation is the job of
`social.tasks`, which calls down into this module, never the other way round.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import XConnection
from .services import get_access_token, maybe_refresh_token
from .x_api import PublicMetrics, ScoreData, XApiClient, XTweet

logger = logging.getLogger(__name__)

RECALCULATE_AFTER = timedelta(days=7)
MAX_TWEETS = 10
# The best X score there is (the worst is 1).
MAX_SCORE = 100

# Component maxima, in the order the breakdown is logged.
MAXIMA = {
    "follower_quality": 25,
    "engagement": 35,
    "age": 10,
    "activity": 15,
    "list": 5,
    "scale": 10,
}


@dataclass(frozen=True)
class ScoreBreakdown:
    follower_quality: float
    engagement: float
    age: float
    activity: float
    list: float
    scale: float
    total: int
    engagement_rate: float
    avg_engagement: float
    tweets_analyzed: int

    def components(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in MAXIMA}


def round_half_away_from_zero(value: float) -> int:
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _engagement_target(followers: int) -> float:
    if followers < 1_000:
        return 0.10
    if followers < 10_000:
        return 0.05
    if followers < 100_000:
        return 0.02
    return 0.01


def _follower_scale(followers: int) -> float:
    if followers >= 1_000:
        return min(max(((math.log10(followers) - 3) / 4) * 10, 0.0), 10.0)
    return followers / 1_000


def calculate_score(
    metrics: PublicMetrics,
    tweets: list[XTweet],
    *,
    account_created_at: datetime | None,
    now: datetime,
) -> ScoreBreakdown:
    followers, following = metrics.followers_count, metrics.following_count
    originals = [tweet for tweet in tweets if not tweet.is_retweet][:MAX_TWEETS]
    days = (now - account_created_at).days if account_created_at else 0
    days = max(days, 0)

    total_engagement = sum(
        t.like_count + t.retweet_count + t.reply_count + t.quote_count
        for t in originals
    )
    if originals and followers > 0:
        avg_engagement = total_engagement / len(originals)
        rate = avg_engagement / followers
    else:
        avg_engagement = rate = 0.0

    if following > 0:
        follower_quality = min((followers / following) / 10, 1) * 25
    else:
        follower_quality = 25.0 if followers > 0 else 0.0
    engagement = (
        min(rate / _engagement_target(followers), 1) * 17.5
        + min(avg_engagement / 200, 1) * 17.5
    )
    age = min((days / 365) / 5, 1) * 10
    if days > 0:
        months = max(days / 30, 1)
        activity = min((metrics.tweet_count / months) / 30, 1) * 15
    else:
        activity = 0.0
    lists = min(metrics.listed_count / 50, 1) * 5
    scale = _follower_scale(followers)

    raw = follower_quality + engagement + age + activity + lists + scale
    return ScoreBreakdown(
        follower_quality=follower_quality,
        engagement=engagement,
        age=age,
        activity=activity,
        list=lists,
        scale=scale,
        total=min(max(round_half_away_from_zero(raw), 1), MAX_SCORE),
        engagement_rate=rate,
        avg_engagement=avg_engagement,
        tweets_analyzed=len(originals),
    )


def needs_score_calculation(
    connection: XConnection, *, now: datetime | None = None
) -> bool:
    if connection.score_calculated_at is None:
        return True
    now = now or timezone.now()
    return (now - connection.score_calculated_at).days >= RECALCULATE_AFTER.days


def next_calculation_at(connection: XConnection) -> datetime | None:
    if connection.score_calculated_at is None:
        return None
    return connection.score_calculated_at + RECALCULATE_AFTER


def due_score_connections() -> QuerySet[XConnection]:
    """Connections never scored or scored RECALCULATE_AFTER ago, the oldest first."""
    cutoff = timezone.now() - RECALCULATE_AFTER
    return XConnection.objects.filter(
        models.Q(score_calculated_at__isnull=True)
        | models.Q(score_calculated_at__lte=cutoff)
    ).order_by(models.F("score_calculated_at").asc(nulls_first=True), "pk")


def calculate_and_save_score(
    connection: XConnection, *, client: XApiClient | None = None
) -> ScoreBreakdown:
    """Fetch the account's metrics from X, score them and save them on the connection.
    Raises XApiError (or XReconnectRequired) without touching the old score.

    The save is a `save(update_fields=...)` whose fields name `x_score` exactly when
    the score changed: rewards' post_save receiver mirrors the multiplier on that.
    """
    client = client or XApiClient.from_settings()
    connection = maybe_refresh_token(connection, client=client)
    data: ScoreData = client.fetch_score_data(
        get_access_token(connection), connection.x_user_id
    )
    now = timezone.now()
    metrics = data.user.metrics or PublicMetrics()
    breakdown = calculate_score(
        metrics, data.tweets, account_created_at=data.user.created_at, now=now
    )
    saved = _save_score(
        connection, breakdown, metrics, account_created_at=data.user.created_at, now=now
    )
    if not saved:
        logger.info(
            "X connection %s removed while X answered; score not saved", connection.pk
        )
        return breakdown
    logger.info(
        "[XScoreCalculator] Score breakdown for user %s: %s, total=%d",
        connection.user_id,
        ", ".join(
            f"{name}={round_half_away_from_zero(value)}"
            for name, value in breakdown.components().items()
        ),
        breakdown.total,
    )
    return breakdown


def _save_score(
    connection: XConnection,
    breakdown: ScoreBreakdown,
    metrics: PublicMetrics,
    *,
    account_created_at: datetime | None,
    now: datetime,
) -> bool:
    details: dict[str, object] = {
        "followers_count": metrics.followers_count,
        "following_count": metrics.following_count,
        "tweet_count": metrics.tweet_count,
        "listed_count": metrics.listed_count,
        "avg_engagement_rate": breakdown.engagement_rate,
        "original_tweets_analyzed": breakdown.tweets_analyzed,
        "account_created_at": account_created_at,
        "score_calculated_at": now,
        "score_components": {
            name: round(value, 2) for name, value in breakdown.components().items()
        },
    }
    with transaction.atomic():
        # Locked so a disconnect cannot remove the row between the read and the save.
        current = (
            XConnection.objects.select_for_update(no_key=True)
            .filter(pk=connection.pk)
            .first()
        )
        if current is None:
            return False
        # x_score is named only when it changes: rewards mirrors it on that.
        fields = [*details, "updated_at"]
        if current.x_score != breakdown.total:
            fields.append("x_score")
        current.x_score = breakdown.total
        for name, value in details.items():
            setattr(current, name, value)
        current.save(update_fields=fields)
    return True
