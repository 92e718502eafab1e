"""Rebuilding CampaignStat, the per-hour sums the campaign dashboard reads.

A rebuild replaces every row from an hour on with what the rewards say now, in one
transaction (readers see the old rows or the new ones), serialised by an advisory
lock. Only recent hours change often: beat rebuilds the last two hours every minute
and the last day and a half every ten minutes (a retweet undone is found about a
day later), and `refresh_campaign_stats --days N` rebuilds further back. The
windows read rewards through indexes on when they were made and minted.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

STATS_LOCK = 0x19_57A75  # pg_advisory_xact_lock key: one rebuild at a time
REFRESHED_AT_KEY = "campaign_stats:refreshed_at"
RECENT = timedelta(hours=2)
# The dashboard rebuilds the recent hours itself when the rows are older than this.
FRESH_FOR = timedelta(seconds=60)
SCORE_BANDS = 10

_DELETE = "DELETE FROM rewards_campaignstat WHERE hour >= %(since)s"
_MADE = """
    INSERT INTO rewards_campaignstat (campaign_id, measure, hour, key, count, bux)
    SELECT campaign_id, 'made', date_trunc('hour', created_at, 'UTC'), status,
           count(*), coalesce(sum(bux_rewarded), 0)
    FROM campaigns_sharereward WHERE created_at >= %(since)s
    GROUP BY 1, 3, 4
"""
_BANDS = """
    INSERT INTO rewards_campaignstat (campaign_id, measure, hour, key, count, bux)
    SELECT r.campaign_id, 'band', date_trunc('hour', r.created_at, 'UTC'),
           LEAST(%(bands)s, GREATEST(1, CEIL(
               r.bux_rewarded / c.bux_reward * %(bands)s / 100)))::text,
           count(*), sum(r.bux_rewarded)
    FROM campaigns_sharereward r
    JOIN campaigns_sharecampaign c ON c.id = r.campaign_id
    WHERE r.created_at >= %(since)s AND c.bux_reward > 0
          AND r.bux_rewarded IS NOT NULL
    GROUP BY 1, 3, 4
"""
_MINTED = """
    INSERT INTO rewards_campaignstat (campaign_id, measure, hour, key, count, bux)
    SELECT campaign_id, 'minted', date_trunc('hour', rewarded_at, 'UTC'), '',
           count(*), coalesce(sum(bux_rewarded), 0)
    FROM campaigns_sharereward
    WHERE rewarded_at >= %(since)s AND status IN ('rewarded', 'undone')
    GROUP BY 1, 3
"""


def refresh_campaign_stats(since: datetime) -> datetime:
    """Rebuild every hour from `since` (rounded down to its hour); the hour used."""
    since = since.replace(minute=0, second=0, microsecond=0)
    params: dict[str, datetime | int] = {"since": since, "bands": SCORE_BANDS}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STATS_LOCK])
        for sql in (_DELETE, _MADE, _BANDS, _MINTED):
            cursor.execute(sql, params)
    try:
        cache.set(REFRESHED_AT_KEY, timezone.now(), timeout=None)
    except RedisError as error:  # the next dashboard view rebuilds again: harmless
        logger.warning("campaign stats refresh time not kept: %s", error)
    return since


def refresh_recent_stats(window: timedelta = RECENT) -> datetime:
    return refresh_campaign_stats(timezone.now() - window)


def stats_refreshed_at() -> datetime | None:
    try:
        refreshed: datetime | None = cache.get(REFRESHED_AT_KEY)
    except RedisError:
        return None
    return refreshed


def ensure_fresh_stats() -> datetime:
    """Rebuild the recent hours if the rows are older than FRESH_FOR; when the
    rows were last rebuilt."""
    refreshed = stats_refreshed_at()
    if refreshed is None or timezone.now() - refreshed > FRESH_FOR:
        refresh_recent_stats()
        refreshed = timezone.now()
    return refreshed
