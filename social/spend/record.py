"""Recording what each X request costs: one UPSERT of its (hour, campaign, purpose)
row, no row per request.

One statement, one round trip: the hourly row grows by one request and its cost,
and, when the answer cost anything, the day's row (XSpendDay) grows too and returns
the day's total, which is checked against X_DAILY_SPEND_LIMIT_USD on the spot. The
requests of a `spending_for` block (a share's retweet and like) are written in one
such statement when the block ends. Rows
of one hour, campaign and purpose are shared by concurrent requests: each holds the
row's lock only for its own statement (autocommit), so waits stay in the
microseconds (docs/operations.md, "X spend", has the figures).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ..models import SharingPause
from .pause import pause_for_daily_limit, pause_sharing
from .prices import MICROS_PER_USD, cost_micros, usd

logger = logging.getLogger(__name__)


class Purpose(StrEnum):
    """Why the product called X (the dashboard's spend by purpose)."""

    SHARE = "share"  # the retweet
    LIKE = "like"
    VERIFY = "verify"  # reading X to confirm a share
    SCORE = "score"  # the reads behind an X score
    CONNECT = "connect"  # users/me after the OAuth consent
    TOKEN = "token"  # noqa: S105 (code exchange, refresh, revoke)
    CAMPAIGN_TWEET = "campaign_tweet"  # a campaign's tweet read when staff add it


@dataclass(frozen=True)
class _Scope:
    campaign_id: int | None
    purpose: str | None
    # The scope's answers, written together when it ends (None: at once).
    pending: list[_Answer] | None = None


@dataclass(frozen=True)
class _Answer:
    hour: datetime
    campaign_id: int | None
    purpose: str
    cost: int


_NO_SCOPE = _Scope(None, None)  # frozen: safe to share as the default
_scope: ContextVar[_Scope] = ContextVar("x_spend_scope", default=_NO_SCOPE)  # noqa: B039


@contextmanager
def spending_for(
    campaign_id: int | None, *, purpose: str | None = None
) -> Iterator[None]:
    """X requests made inside count for this campaign (and this purpose, instead of
    the one the client names). Their answers are written in one statement when the
    block ends, however it ends (a share's retweet and like: one round trip)."""
    scope = _Scope(campaign_id, purpose, pending=[])
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)
        if scope.pending:
            _write_or_log(scope.pending)


def record_x_request(kind: str, purpose: str, *, status: int, body: Any) -> None:
    """Count one answer from X: its cost when it succeeded (X bills nothing else),
    and sharing paused at once when X says our credits are gone. Never raises: a
    request X answered is never failed by our bookkeeping (the database may be gone
    while X answered: the next request reconnects)."""
    scope = _scope.get()
    try:
        if status == 402:
            pause_sharing(
                SharingPause.Reason.CREDITS_DEPLETED,
                detail="X answered 402 CreditsDepleted",
            )
    except DatabaseError as error:
        logger.error("X 402 not recorded as a pause: %s", type(error).__name__)
    now = timezone.now()
    answer = _Answer(
        hour=now.replace(minute=0, second=0, microsecond=0),
        campaign_id=scope.campaign_id,
        purpose=scope.purpose or purpose,
        cost=cost_micros(kind, body) if 200 <= status < 300 else 0,
    )
    if scope.pending is not None:
        scope.pending.append(answer)
    else:
        _write_or_log([answer])


def _write_or_log(answers: list[_Answer]) -> None:
    try:
        day_total = _upsert(answers)
    except DatabaseError as error:
        logger.warning(
            "X spend of %s request(s) not recorded: %s",
            len(answers),
            type(error).__name__,
        )
        return
    limit = settings.X_DAILY_SPEND_LIMIT_USD
    if (
        limit is not None
        and day_total is not None
        and day_total > limit * MICROS_PER_USD
    ):
        try:
            pause_for_daily_limit(spent=usd(day_total), limit=Decimal(limit))
        except DatabaseError as error:
            logger.error("X daily limit passed, pause not recorded: %s", error)


_HOUR_ROWS = """
    INSERT INTO social_xspend (hour, campaign_id, purpose, requests, cost_micros)
    VALUES {values}
    ON CONFLICT (hour, campaign_id, purpose) DO UPDATE
    SET requests = social_xspend.requests + EXCLUDED.requests,
        cost_micros = social_xspend.cost_micros + EXCLUDED.cost_micros
"""
_HOUR_AND_DAY_ROWS = """
    WITH hour_rows AS ({hour_rows})
    INSERT INTO social_xspendday (day, cost_micros) VALUES {days}
    ON CONFLICT (day) DO UPDATE
    SET cost_micros = social_xspendday.cost_micros + EXCLUDED.cost_micros
    RETURNING day, cost_micros
"""


def _upsert(answers: list[_Answer]) -> int | None:
    """Add the answers to their hourly rows and, when they cost anything, to their
    days' rows, in one statement; the latest day's total (None without a cost).
    Answers of one row are added up first: one statement may not update a row
    twice."""
    rows: dict[tuple[datetime, int | None, str], list[int]] = {}
    days: dict[date, int] = {}
    for answer in answers:
        row = rows.setdefault((answer.hour, answer.campaign_id, answer.purpose), [0, 0])
        row[0] += 1
        row[1] += answer.cost
        if answer.cost:
            day = answer.hour.date()
            days[day] = days.get(day, 0) + answer.cost
    params: list[Any] = []
    for (hour, campaign_id, purpose), (requests, cost) in rows.items():
        params += [hour, campaign_id, purpose, requests, cost]
    sql = _HOUR_ROWS.format(values=", ".join(["(%s, %s, %s, %s, %s)"] * len(rows)))
    if days:
        sql = _HOUR_AND_DAY_ROWS.format(
            hour_rows=sql, days=", ".join(["(%s, %s)"] * len(days))
        )
        for day, cost in days.items():
            params += [day, cost]
    # Inside a transaction (a token refresh holds its row lock while X answers), a
    # savepoint keeps a failed write from breaking it; outside, autocommit is one
    # round trip.
    if connection.in_atomic_block:
        with transaction.atomic():
            return _execute(sql, params)
    return _execute(sql, params)


def _execute(sql: str, params: list[Any]) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        totals = cursor.fetchall() if cursor.description else []
    # The day the answers ended in is the one the limit is about.
    return max(totals)[1] if totals else None
