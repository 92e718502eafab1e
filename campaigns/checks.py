"""Start-up checks of the share confirmation settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from .policy import POLICY_HELP, parse_verify_policy


def check_verify_shares(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """X_VERIFY_SHARES must be a policy: a typo would otherwise surface only when a
    reader shares."""
    try:
        parse_verify_policy(settings.X_VERIFY_SHARES)
    except ValueError:
        return [
            Error(
                f"X_VERIFY_SHARES={settings.X_VERIFY_SHARES!r} is not {POLICY_HELP}.",
                id="campaigns.E001",
            )
        ]
    if settings.X_VERIFY_ATTEMPTS < 1:
        return [Error("X_VERIFY_ATTEMPTS must be at least 1.", id="campaigns.E002")]
    return []
