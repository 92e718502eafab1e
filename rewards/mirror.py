"""The Redis side of things: every key string is built here, under REDIS_KEY_PREFIX."""

from __future__ import annotations

from django.conf import settings


def _key(*parts: object) -> str:
    return settings.REDIS_KEY_PREFIX + ":".join(str(part) for part in parts)


def rate_limit_key(endpoint: str, x_user_id: str) -> str:
    """X's last reported rate-limit window for one user and endpoint (a HASH)."""
    return _key("x_rate_limit", endpoint, x_user_id)
