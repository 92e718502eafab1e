"""X's prices, kept in the XPrice table so operators can follow X's changes.

The defaults are X's pay-per-use prices since 2026-02-06: $0.015 a post write
request (a retweet, an undo, a like), $0.010 per user and $0.005 per post a read
returns; OAuth token calls are free. Only successful answers are billed.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from ..models import XPrice

MICROS_PER_USD = Decimal(1_000_000)
# How long a process keeps the prices it read: an edit reaches every process within
# this time, and a request never waits for a price query.
PRICES_TTL_SECONDS = 60.0


class PriceKind(StrEnum):
    POST_WRITE = "post_write"
    USER_READ = "user_read"
    POST_READ = "post_read"
    OAUTH = "oauth"


class DefaultPrice(NamedTuple):
    description: str
    unit: str
    usd: Decimal


DEFAULT_PRICES: dict[PriceKind, DefaultPrice] = {
    PriceKind.POST_WRITE: DefaultPrice(
        "Retweet, undo retweet or like", XPrice.Unit.REQUEST, Decimal("0.015")
    ),
    PriceKind.USER_READ: DefaultPrice(
        "User read (users/me, users/:id)", XPrice.Unit.RESOURCE, Decimal("0.010")
    ),
    PriceKind.POST_READ: DefaultPrice(
        "Post read (timelines, post look-ups)", XPrice.Unit.RESOURCE, Decimal("0.005")
    ),
    PriceKind.OAUTH: DefaultPrice(
        "OAuth token, refresh or revoke", XPrice.Unit.REQUEST, Decimal("0")
    ),
}


class Price(NamedTuple):
    unit: str
    micros: int


_lock = threading.Lock()
_cache: dict[str, Price] = {}
_loaded_at = 0.0


def install_default_prices(model: type[XPrice] = XPrice) -> None:
    """Create the rows missing from the table (a data migration and seed_demo)."""
    for kind, default in DEFAULT_PRICES.items():
        model.objects.get_or_create(
            kind=kind,
            defaults={
                "description": default.description,
                "unit": default.unit,
                "usd": default.usd,
            },
        )


def price_of(kind: str) -> Price:
    global _loaded_at
    with _lock:
        if time.monotonic() - _loaded_at > PRICES_TTL_SECONDS:
            _cache.clear()
            for row in XPrice.objects.all():
                _cache[row.kind] = Price(row.unit, int(row.usd * MICROS_PER_USD))
            _loaded_at = time.monotonic()
        if kind in _cache:
            return _cache[kind]
    default = DEFAULT_PRICES[PriceKind(kind)]
    return Price(default.unit, int(default.usd * MICROS_PER_USD))


def forget_prices() -> None:
    """Read the table again on the next request (after an edit)."""
    global _loaded_at
    with _lock:
        _loaded_at = 0.0


def cost_micros(kind: str, body: Any) -> int:
    """What X bills for a successful answer with this body."""
    price = price_of(kind)
    return price.micros * billed_units(price.unit, body) + _expanded_users(body)


def _expanded_users(body: Any) -> int:
    """Users an expansion returned (`includes.users`) are billed as user reads."""
    includes = body.get("includes") if isinstance(body, dict) else None
    users = includes.get("users") if isinstance(includes, dict) else None
    if not isinstance(users, list) or not users:
        return 0
    return price_of(PriceKind.USER_READ).micros * len(users)


def billed_units(unit: str, body: Any) -> int:
    if unit == XPrice.Unit.REQUEST:
        return 1
    # Reads are billed per resource returned: none when X found nothing.
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list):
        return len(data)
    return 1 if isinstance(data, dict) else 0


def usd(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS_PER_USD).quantize(Decimal("0.000001"))
