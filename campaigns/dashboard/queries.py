"""The dashboard's figures, read with a fixed number of aggregate queries: rewards
made in the period, grouped by time bucket and status and by X-score band in one
scan; BUX minted up to the end of the period by bucket; X spend from its hourly
rows; the funnel's readers from Redis. Nothing is loaded row by row, so a campaign
with a million rewards costs what its index scans cost (bench/dashboard.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Sum
from django.db.models.functions import TruncDay, TruncHour

from social.models import XSpend
from social.spend.prices import usd

from ..analytics import BOX_VIEWS, PRESSES, count_distinct
from ..models import ShareCampaign, ShareReward

Status = ShareReward.Status

# The longest period a dashboard shows; longer ones are cut to their last days.
MAX_PERIOD_DAYS = 92
# Periods up to this long are shown by the hour, longer ones by the day.
HOURLY_UP_TO_DAYS = 14
# X-score bands of the participants' distribution: 1-10, 11-20, ... 91-100.
SCORE_BANDS = 10
# A reward's multiplier is its amount over the campaign's base (round(score × base)).
CONFIRMED = (Status.VERIFIED, Status.REWARDED, "undone")
MINTED = (Status.REWARDED, "undone")


@dataclass(frozen=True)
class Period:
    """Whole days, UTC: from the start of `first` to the end of `last`."""

    first: date
    last: date

    @classmethod
    def ending(cls, last: date, *, days: int) -> Period:
        return cls(last - timedelta(days=days - 1), last)

    def bounded(self) -> Period:
        first = max(self.first, self.last - timedelta(days=MAX_PERIOD_DAYS - 1))
        return Period(min(first, self.last), self.last)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        count = (self.last - self.first).days + 1
        return [self.first + timedelta(days=n) for n in range(count)]

    @property
    def bucket(self) -> str:
        return "hour" if len(self.days) <= HOURLY_UP_TO_DAYS else "day"

    @property
    def buckets(self) -> list[datetime]:
        step = timedelta(hours=1) if self.bucket == "hour" else timedelta(days=1)
        moments, moment = [], self.since
        while moment < self.until:
            moments.append(moment)
            moment += step
        return moments


@dataclass
class Dashboard:
    period: Period
    campaign: ShareCampaign | None
    # bucket -> status -> rewards made in that bucket, now in that status
    shares: dict[datetime, dict[str, int]] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    # band (1..SCORE_BANDS) -> participants in the period
    score_bands: dict[int, int] = field(default_factory=dict)
    minted_before: Decimal = Decimal("0")
    # bucket -> BUX minted in it (by the time of the mint)
    minted: dict[datetime, Decimal] = field(default_factory=dict)
    spend_by_purpose: dict[str, tuple[int, int]] = field(default_factory=dict)
    spend_by_bucket: dict[datetime, int] = field(default_factory=dict)
    box_views: int = 0
    presses: int = 0

    @property
    def total_shares(self) -> int:
        return sum(self.by_status.values())

    @property
    def confirmed(self) -> int:
        return sum(self.by_status.get(status, 0) for status in CONFIRMED)

    @property
    def rewarded(self) -> int:
        return sum(self.by_status.get(status, 0) for status in MINTED)

    @property
    def bux_paid(self) -> Decimal:
        return sum(self.minted.values(), Decimal("0"))

    @property
    def minted_to_date(self) -> Decimal:
        return self.minted_before + self.bux_paid

    @property
    def spend_micros(self) -> int:
        return sum(cost for _, cost in self.spend_by_purpose.values())

    @property
    def spend_usd(self) -> Decimal:
        return usd(self.spend_micros)

    @property
    def x_requests(self) -> int:
        return sum(requests for requests, _ in self.spend_by_purpose.values())

    @property
    def cost_per_rewarded_share(self) -> Decimal | None:
        if not self.rewarded:
            return None
        return usd(self.spend_micros // self.rewarded)


def build_dashboard(campaign: ShareCampaign | None, period: Period) -> Dashboard:
    period = period.bounded()
    board = Dashboard(period=period, campaign=campaign)
    _read_shares(board)
    _read_minted(board)
    _read_spend(board)
    board.box_views = count_distinct(BOX_VIEWS, _id(campaign), period.days)
    board.presses = count_distinct(PRESSES, _id(campaign), period.days)
    return board


def _id(campaign: ShareCampaign | None) -> int | None:
    return None if campaign is None else campaign.pk


def _campaign_filter(campaign: ShareCampaign | None) -> str:
    return "" if campaign is None else "AND r.campaign_id = %(campaign)s"


def _params(board: Dashboard) -> dict[str, Any]:
    return {
        "bucket": board.period.bucket,
        "since": board.period.since,
        "until": board.period.until,
        "campaign": _id(board.campaign),
        "bands": SCORE_BANDS,
    }


def _read_shares(board: Dashboard) -> None:
    # One scan of the period's rewards answers both groupings.
    sql = f"""
        SELECT date_trunc(%(bucket)s, r.created_at, 'UTC') AS bucket, r.status,
               LEAST(%(bands)s, GREATEST(1, CEIL(
                   r.bux_rewarded / NULLIF(c.bux_reward, 0) * %(bands)s / 100
               )))::int AS band,
               GROUPING(date_trunc(%(bucket)s, r.created_at, 'UTC')) AS by_band,
               count(*)
        FROM campaigns_sharereward r
        JOIN campaigns_sharecampaign c ON c.id = r.campaign_id
        WHERE r.created_at >= %(since)s AND r.created_at < %(until)s
              {_campaign_filter(board.campaign)}
        GROUP BY GROUPING SETS (
            (date_trunc(%(bucket)s, r.created_at, 'UTC'), r.status),
            (LEAST(%(bands)s, GREATEST(1, CEIL(
                r.bux_rewarded / NULLIF(c.bux_reward, 0) * %(bands)s / 100
            )))::int)
        )
    """  # noqa: S608 (the filter is one of two constants; values are parameters)
    shares: dict[datetime, dict[str, int]] = defaultdict(dict)
    by_status: dict[str, int] = defaultdict(int)
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(board))
        for bucket, status, band, by_band, count in cursor.fetchall():
            if by_band:
                if band is not None:
                    board.score_bands[band] = count
                continue
            shares[bucket][status] = count
            by_status[status] += count
    board.shares, board.by_status = dict(shares), dict(by_status)


def _read_minted(board: Dashboard) -> None:
    # Everything minted before the period is one figure: the curve starts from it.
    sql = f"""
        SELECT date_trunc(%(bucket)s, r.rewarded_at, 'UTC') >= %(since)s AS in_period,
               CASE WHEN r.rewarded_at >= %(since)s
                    THEN date_trunc(%(bucket)s, r.rewarded_at, 'UTC') END,
               sum(r.bux_rewarded)
        FROM campaigns_sharereward r
        WHERE r.status IN ('rewarded', 'undone') AND r.rewarded_at < %(until)s
              {_campaign_filter(board.campaign)}
        GROUP BY 1, 2
    """  # noqa: S608 (the filter is one of two constants; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(board))
        for in_period, bucket, bux in cursor.fetchall():
            if in_period:
                board.minted[bucket] = bux or Decimal("0")
            else:
                board.minted_before += bux or Decimal("0")


def _read_spend(board: Dashboard) -> None:
    rows = XSpend.objects.filter(
        hour__gte=board.period.since, hour__lt=board.period.until
    )
    if board.campaign is not None:
        rows = rows.filter(campaign_id=board.campaign.pk)
    for row in rows.values("purpose").annotate(
        n=Sum("requests"), cost=Sum("cost_micros")
    ):
        board.spend_by_purpose[row["purpose"]] = (row["n"], row["cost"])
    trunc = TruncHour if board.period.bucket == "hour" else TruncDay
    by_bucket = (
        rows.annotate(bucket=trunc("hour", tzinfo=UTC))
        .values("bucket")
        .annotate(cost=Sum("cost_micros"))
    )
    board.spend_by_bucket = {row["bucket"]: row["cost"] for row in by_bucket}
