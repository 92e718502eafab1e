"""X's pay-per-use prices (since 2026-02-06), in micro-dollars to keep sums exact."""

from __future__ import annotations

from decimal import Decimal

WRITE_MICROS = 15_000  # a retweet, an unretweet or a like: $0.015 a request
USER_READ_MICROS = 10_000  # $0.010 per user returned
POST_READ_MICROS = 5_000  # $0.005 per post returned


def usd(micros: int) -> str:
    return str((Decimal(micros) / Decimal(1_000_000)).quantize(Decimal("0.000001")))
