"""`{% load bux %}`: how BUX amounts and transactions are shown in every template."""

from __future__ import annotations

from decimal import Decimal

from django import template

from rewards import amounts, explorer

register = template.Library()


@register.filter
def bux(amount: Decimal | None) -> str:
    """`{{ amount|bux }}`: `1,234`, or `7.50` for a fraction of a BUX."""
    return amounts.format_bux(amount)


@register.filter
def tx_url(tx_hash: str | None) -> str:
    """`{{ reward.tx_hash|tx_url }}`: the explorer link, or "" without one."""
    return explorer.tx_url(tx_hash)


@register.filter
def short_tx(tx_hash: str | None) -> str:
    """`{{ reward.tx_hash|short_tx }}`: `0x1234…abcd`."""
    return explorer.short_tx(tx_hash)
