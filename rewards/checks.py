"""Start-up checks of the minting settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error


def check_mint_lease(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A mint's lease must outlast its request: a request still waiting for the
    minter would otherwise look lost, be sent again (idempotent minter) or be put in
    the operator queue while it is about to succeed."""
    request = settings.BUX_MINTER_CONNECT_TIMEOUT + settings.BUX_MINTER_READ_TIMEOUT
    lease = settings.BUX_MINT_LEASE_SECONDS
    if request < lease:
        return []
    return [
        Error(
            f"BUX_MINT_LEASE_SECONDS ({lease}) must be longer than a mint request "
            f"can take ({request:g} s: BUX_MINTER_CONNECT_TIMEOUT + "
            "BUX_MINTER_READ_TIMEOUT).",
            id="rewards.E001",
        )
    ]
