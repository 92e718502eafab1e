"""The campaign funnel's counts that live in Redis: readers who saw a campaign's box
and readers who pressed Retweet & Like, one HyperLogLog per campaign and day (UTC),
plus one per day for all campaigns. A HyperLogLog counts distinct readers in 12 KB
whatever their number, within about 1%; adding one is a single PFADD.

These are analytics, not the rewards mirror: keys come from the functions below,
under settings.REDIS_KEY_PREFIX, and a Redis failure loses a count, never a page.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import date, timedelta

from django.conf import settings
from django.http import HttpRequest
from redis.exceptions import RedisError

from blockster.proxy import client_ip
from blockster.redis_client import get_redis

logger = logging.getLogger(__name__)

BOX_VIEWS = "box_views"
PRESSES = "presses"
ALL_CAMPAIGNS = "all"
# Kept a little over a year, so a year-on-year dashboard still has its counts.
KEEP_DAYS = 400


def funnel_key(kind: str, campaign_id: int | str, day: date) -> str:
    return f"{settings.REDIS_KEY_PREFIX}analytics:{kind}:{campaign_id}:{day:%Y%m%d}"


def visitor_id(request: HttpRequest) -> str:
    """Who is counted: a signed-in reader by account, anyone else by a digest of
    their address and browser (never stored as such)."""
    if request.user.is_authenticated:
        return f"u{request.user.pk}"
    seen = f"{client_ip(request)}|{request.headers.get('User-Agent', '')}"
    return "a" + hashlib.sha256(seen.encode()).hexdigest()[:20]


def count_visitor(kind: str, campaign_id: int, visitor: str, *, day: date) -> None:
    keys = (funnel_key(kind, campaign_id, day), funnel_key(kind, ALL_CAMPAIGNS, day))
    try:
        # One round trip for the campaign's day, the site's day and their expiry.
        with get_redis().pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.pfadd(key, visitor)
                pipe.expire(key, timedelta(days=KEEP_DAYS))
            pipe.execute()
    except RedisError as error:
        logger.warning("%s of campaign %s not counted: %s", kind, campaign_id, error)


def count_distinct(kind: str, campaign_id: int | None, days: Iterable[date]) -> int:
    """Distinct readers over the days (a union, not a sum of each day's)."""
    campaign = ALL_CAMPAIGNS if campaign_id is None else campaign_id
    keys = [funnel_key(kind, campaign, day) for day in days]
    if not keys:
        return 0
    try:
        return int(get_redis().pfcount(*keys))
    except RedisError as error:
        logger.warning("%s of campaign %s not read: %s", kind, campaign_id, error)
        return 0
