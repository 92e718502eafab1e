"""Rewards' reads: the member page's activity and a reader's totals, from the Redis
mirror or, while Redis is down or the mirror not rebuilt, from PostgreSQL; a wallet's
balance, from the minter."""

from __future__ import annotations

import logging
import math
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import Sum
from redis.exceptions import RedisError

from blockster.redis_client import REDIS_ERRORS
from campaigns.models import ShareReward

from .minter import BalanceUnavailable, MinterClient
from .mirror.read import UserActivity, read_user_totals
from .mirror.schema import FEED_STATUSES, FeedEntry, share_feed_entry

logger = logging.getLogger(__name__)

ACTIVITY_PER_PAGE = 20
# A wallet's balance is read from the minter at most once a minute.
BALANCE_CACHE_SECONDS = 60


class DatabaseActivity:
    """The member's minted X shares (undone ones included) from PostgreSQL, newest
    first: what the page shows while the Redis mirror is unreachable. Same entries
    as the mirror's."""

    def __init__(self, user_id: int, *, as_of: int | None = None) -> None:
        self.rewards = ShareReward.objects.filter(
            user_id=user_id, status__in=FEED_STATUSES
        ).order_by("-rewarded_at", "-pk")
        if as_of is not None:
            until = datetime.fromtimestamp(as_of, UTC)
            self.rewards = self.rewards.filter(rewarded_at__lte=until)

    def count(self) -> int:
        return self.rewards.count()

    def __getitem__(self, window: slice) -> list[FeedEntry]:
        rows = self.rewards.select_related("campaign__post").only(
            "campaign_tweet",
            "campaign__post__title",
            "campaign__post__slug",
            "status",
            "bux_rewarded",
            "retweet_id",
            "tx_hash",
            "rewarded_at",
            "liked",
            "retweet_post_id",
        )[window]
        return [share_feed_entry(row) for row in rows]


@dataclass(frozen=True)
class MemberActivity:
    page: Page[FeedEntry]
    # Redis was unavailable (or had lost the mirror): X shares from PostgreSQL.
    from_database: bool
    # The feed as of this time (Unix seconds): what the page links carry, so the
    # next page continues where this one ended however many entries arrive.
    as_of: int


def _page(activity: UserActivity | DatabaseActivity, number: str | None) -> Page:
    paginator: Paginator[FeedEntry] = Paginator(
        activity,  # type: ignore[arg-type]  # stub wants len(); Django takes count()
        ACTIVITY_PER_PAGE,
    )
    return paginator.get_page(number)


def parse_as_of(value: str | None) -> int | None:
    """A page link's `as_of`; None (the feed as it is now) unless it is a time."""
    return int(value) if value and value.isdigit() and len(value) <= 12 else None


def member_activity(
    user_id: int, *, page: str | None, as_of: int | None = None
) -> MemberActivity:
    """One page of the member's activity feed as of `as_of` (now, by default), read
    from Redis, or from PostgreSQL (X shares only) when Redis fails or the mirror is
    not built."""
    if as_of is None:
        # Every entry rewarded before this page was asked for.
        as_of = math.ceil(time.time())
    try:
        feed = UserActivity(user_id, as_of=as_of)
        return MemberActivity(_page(feed, page), from_database=False, as_of=as_of)
    except REDIS_ERRORS:
        rows = DatabaseActivity(user_id, as_of=as_of)
        return MemberActivity(_page(rows, page), from_database=True, as_of=as_of)


# The statuses whose BUX a reader sees as on their way: confirming on X, and
# verified (queued for the minter, being retried, or waiting for a wallet).
ON_THE_WAY = (ShareReward.Status.SHARED, ShareReward.Status.VERIFIED)


@dataclass(frozen=True)
class MemberTotals:
    """A reader's BUX from shares, as the member page and the header show them."""

    minted: Decimal
    on_the_way: Decimal
    undone: Decimal
    # Redis was unavailable (or had lost the mirror): summed in PostgreSQL.
    from_database: bool

    @classmethod
    def from_statuses(
        cls, sums: dict[str, Decimal], *, from_database: bool
    ) -> MemberTotals:
        zero = Decimal("0.00")
        return cls(
            minted=sums.get(ShareReward.Status.REWARDED, zero),
            on_the_way=sum((sums.get(s, zero) for s in ON_THE_WAY), zero),
            undone=sums.get(ShareReward.Status.UNDONE, zero),
            from_database=from_database,
        )


def database_totals(user_id: int) -> dict[str, Decimal]:
    """The user's BUX by reward status, in one PostgreSQL aggregate."""
    sums = (
        ShareReward.objects.filter(user_id=user_id, bux_rewarded__isnull=False)
        .order_by()
        .values_list("status")
        .annotate(total=Sum("bux_rewarded"))
    )
    return {status: total for status, total in sums if total}


def member_totals(user_id: int) -> MemberTotals:
    """The reader's totals from their mirror hash, or from PostgreSQL when Redis
    fails or the mirror is not built."""
    try:
        return MemberTotals.from_statuses(
            read_user_totals(user_id), from_database=False
        )
    except REDIS_ERRORS:
        return MemberTotals.from_statuses(database_totals(user_id), from_database=True)


def wallet_balance(address: str) -> Decimal | None:
    """The wallet's BUX as the minter reports them, cached for a minute; None when
    the minter gives no balance. The cache is a shortcut: while it is down, the
    minter is asked every time."""
    key = f"wallet_balance:{address.lower()}"
    try:
        cached = cache.get(key)
    except RedisError:
        cached = None
    if cached is not None:
        return Decimal(cached)
    try:
        balance = MinterClient.from_settings().balance(address)
    except BalanceUnavailable as exc:
        logger.warning("wallet balance unavailable: %s", exc.detail)
        return None
    with suppress(RedisError):
        cache.set(key, str(balance.bux), BALANCE_CACHE_SECONDS)
    return balance.bux
