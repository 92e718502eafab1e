"""Transactions as readers and operators see them: a link to the block explorer
(BUX_EXPLORER_TX_URL, `{tx}` replaced by the hash) and a shortened hash."""

from __future__ import annotations

from django.conf import settings


def tx_url(tx_hash: str | None) -> str:
    """The explorer's page for the transaction; "" without a hash or an explorer."""
    template = settings.BUX_EXPLORER_TX_URL
    return template.replace("{tx}", tx_hash) if tx_hash and template else ""


def short_tx(tx_hash: str | None) -> str:
    """`0x1234…abcd`: enough to tell transactions apart at a glance."""
    if not tx_hash or len(tx_hash) <= 12:
        return tx_hash or ""
    return f"{tx_hash[:6]}…{tx_hash[-4:]}"
