"""A campaign's rewards as CSV, streamed: rows come from a server-side cursor in
chunks and leave as they are written, so a million rewards take as much memory as
a few thousand (tests/campaigns/test_export.py measures it)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from ..models import ShareCampaign, ShareReward

HEADER = (
    "reward_id",
    # The campaign's tweet the reader shared, by its id on X.
    "tweet_id",
    "reader_id",
    "reader_email",
    "x_handle",
    "x_score",
    "bux",
    "state",
    "transaction",
    "shared_at",
    "verified_at",
    "rewarded_at",
)
COLUMNS = (
    "pk",
    "campaign_tweet__tweet_id",
    "user_id",
    "user__email",
    "x_connection__x_username",
    "x_connection__x_score",
    "bux_rewarded",
    "status",
    "tx_hash",
    "created_at",
    "verified_at",
    "rewarded_at",
)
CHUNK = 2000
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer's file: hands each written line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text  # shown as text, never run
    return text


def reward_rows(campaign: ShareCampaign) -> Iterator[tuple[object, ...]]:
    rewards = (
        ShareReward.objects.filter(campaign=campaign)
        .order_by("pk")
        .values_list(*COLUMNS)
    )
    yield from rewards.iterator(chunk_size=CHUNK)


def csv_lines(campaign: ShareCampaign) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADER)
    for row in reward_rows(campaign):
        yield writer.writerow([_cell(value) for value in row])


def export_filename(campaign: ShareCampaign) -> str:
    return f"campaign-{campaign.pk}-rewards.csv"
