"""The dashboard's figures, read from sums kept per hour, never from the rewards
themselves: CampaignStat (rewards made per hour by status and by X-score band,
BUX minted per hour; rebuilt for the recent hours when a minute old, see
rewards.services.stats), XSpend (X requests per hour and purpose) and the
funnel's HyperLogLogs in Redis. A page reads at most a few thousand rows per
campaign, whatever the number of rewards (bench/dashboard.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour

from rewards.models import CampaignStat
from rewards.services.stats import ensure_fresh_stats
from social.models import XSpend
from social.spend.prices import usd

from ..analytics import BOX_VIEWS, PRESSES, count_distinct
from ..models import MINTED_STATUSES, ShareCampaign, ShareReward

Status = ShareReward.Status

# The longest period a dashboard shows; longer ones are cut to their last days.
MAX_PERIOD_DAYS = 92
# Periods up to this long are shown by the hour, longer ones by the day.
HOURLY_UP_TO_DAYS = 14
# A reward's multiplier is its amount over the campaign's base (round(score × base)).
CONFIRMED = (Status.VERIFIED, Status.REWARDED, "undone")
MINTED = MINTED_STATUSES


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
    as_of: datetime | None = None
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
    board = Dashboard(period=period, campaign=campaign, as_of=ensure_fresh_stats())
    _read_shares(board)
    _read_minted(board)
    _read_spend(board)
    board.box_views = count_distinct(BOX_VIEWS, _id(campaign), period.days)
    board.presses = count_distinct(PRESSES, _id(campaign), period.days)
    return board


def _id(campaign: ShareCampaign | None) -> int | None:
    return None if campaign is None else campaign.pk


def _stats(board: Dashboard, *measures: str) -> QuerySet[CampaignStat]:
    rows = CampaignStat.objects.filter(measure__in=measures)
    if board.campaign is not None:
        rows = rows.filter(campaign=board.campaign)
    return rows


def _bucket(board: Dashboard) -> TruncHour | TruncDay:
    trunc = TruncHour if board.period.bucket == "hour" else TruncDay
    return trunc("hour", tzinfo=UTC)


def _read_shares(board: Dashboard) -> None:
    period = board.period
    made = (
        _stats(board, CampaignStat.Measure.MADE, CampaignStat.Measure.BAND)
        .filter(hour__gte=period.since, hour__lt=period.until)
        .annotate(bucket=_bucket(board))
        .values("measure", "bucket", "key")
        .annotate(n=Sum("count"))
    )
    shares: dict[datetime, dict[str, int]] = defaultdict(dict)
    by_status: dict[str, int] = defaultdict(int)
    bands: dict[int, int] = defaultdict(int)
    for row in made:
        if row["measure"] == CampaignStat.Measure.BAND:
            bands[int(row["key"])] += row["n"]
            continue
        shares[row["bucket"]][row["key"]] = row["n"]
        by_status[row["key"]] += row["n"]
    board.shares, board.by_status = dict(shares), dict(by_status)
    board.score_bands = dict(bands)


def _read_minted(board: Dashboard) -> None:
    period = board.period
    minted = _stats(board, CampaignStat.Measure.MINTED).filter(hour__lt=period.until)
    before = minted.filter(hour__lt=period.since).aggregate(bux=Sum("bux"))["bux"]
    board.minted_before = before or Decimal("0")
    in_period = (
        minted.filter(hour__gte=period.since)
        .annotate(bucket=_bucket(board))
        .values("bucket")
        .annotate(bux=Sum("bux"))
    )
    board.minted = {row["bucket"]: row["bux"] for row in in_period}


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
    by_bucket = (
        rows.annotate(bucket=_bucket(board))
        .values("bucket")
        .annotate(cost=Sum("cost_micros"))
    )
    board.spend_by_bucket = {row["bucket"]: row["cost"] for row in by_bucket}
