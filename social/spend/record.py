"""Recording what each X request costs: one UPSERT of its (hour, campaign, purpose)
row, no row per request.

One statement, one round trip: the hourly row grows by one request and its cost,
and, when the answer cost anything, the day's row (XSpendDay) grows too and returns
the day's total, which is checked against X_DAILY_SPEND_LIMIT_USD on the spot. Rows
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


_NO_SCOPE = _Scope(None, None)  # frozen: safe to share as the default
_scope: ContextVar[_Scope] = ContextVar("x_spend_scope", default=_NO_SCOPE)  # noqa: B039


@contextmanager
def spending_for(
    campaign_id: int | None, *, purpose: str | None = None
) -> Iterator[None]:
    """X requests made inside count for this campaign (and this purpose, instead of
    the one the client names)."""
    token = _scope.set(_Scope(campaign_id, purpose))
    try:
        yield
    finally:
        _scope.reset(token)


_HOUR_ROW = """
    INSERT INTO social_xspend (hour, campaign_id, purpose, requests, cost_micros)
    VALUES (%(hour)s, %(campaign)s, %(purpose)s, 1, %(cost)s)
    ON CONFLICT (hour, campaign_id, purpose) DO UPDATE
    SET requests = social_xspend.requests + 1,
        cost_micros = social_xspend.cost_micros + EXCLUDED.cost_micros
"""
_HOUR_AND_DAY_ROWS = f"""
    WITH hour_row AS ({_HOUR_ROW})
    INSERT INTO social_xspendday (day, cost_micros) VALUES (%(day)s, %(cost)s)
    ON CONFLICT (day) DO UPDATE
    SET cost_micros = social_xspendday.cost_micros + EXCLUDED.cost_micros
    RETURNING cost_micros
"""  # noqa: S608 (constant SQL; values are parameters)


def record_x_request(kind: str, purpose: str, *, status: int, body: Any) -> None:
    """Count one answer from X: its cost when it succeeded (X bills nothing else),
    and sharing paused when X says our credits are gone. Never raises: a request
    X answered is never failed by our bookkeeping (the database may be gone while X
    answered: the next request reconnects)."""
    try:
        _record(kind, purpose, status=status, body=body)
    except DatabaseError as error:
        log = logger.error if status == 402 else logger.warning
        log("X spend not recorded (X answered %s): %s", status, type(error).__name__)


def _record(kind: str, purpose: str, *, status: int, body: Any) -> None:
    if status == 402:
        pause_sharing(
            SharingPause.Reason.CREDITS_DEPLETED,
            detail="X answered 402 CreditsDepleted",
        )
    scope = _scope.get()
    cost = cost_micros(kind, body) if 200 <= status < 300 else 0
    now = timezone.now()
    params = {
        "hour": now.replace(minute=0, second=0, microsecond=0),
        "day": now.date(),
        "campaign": scope.campaign_id,
        "purpose": scope.purpose or purpose,
        "cost": cost,
    }
    day_total = _upsert(params)
    limit = settings.X_DAILY_SPEND_LIMIT_USD
    if (
        limit is not None
        and day_total is not None
        and day_total > limit * MICROS_PER_USD
    ):
        pause_for_daily_limit(spent=usd(day_total), limit=Decimal(limit))


def _upsert(params: dict[str, Any]) -> int | None:
    sql = _HOUR_AND_DAY_ROWS if params["cost"] else _HOUR_ROW
    # Inside a transaction (a token refresh holds its row lock while X answers), a
    # savepoint keeps a failed write from breaking it; outside, autocommit is one
    # round trip.
    if connection.in_atomic_block:
        with transaction.atomic():
            return _execute(sql, params)
    return _execute(sql, params)


def _execute(sql: str, params: dict[str, Any]) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone() if cursor.description else None
    return row[0] if row else None
