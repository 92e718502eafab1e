"""What every page shows of the signed-in reader's BUX (the header's minted total)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache

from django.http import HttpRequest

from .selectors import member_totals


def reader_bux(request: HttpRequest) -> dict[str, Callable[[], Decimal]]:
    """`header_minted_bux`: the reader's minted total, read only by a template that
    shows it (a template calls a callable), once per render."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    user_id = user.pk

    @cache
    def minted() -> Decimal:
        return member_totals(user_id).minted

    return {"header_minted_bux": minted}
