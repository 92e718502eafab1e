"""A per-user fixed-window counter in Redis, for actions that cost money."""

from __future__ import annotations

import logging

from django.conf import settings

from .redis_client import get_redis

logger = logging.getLogger(__name__)


def rate_limit_key(action: str, user_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}ratelimit:{action}:{user_id}"


def over_limit(action: str, user_id: int, *, limit: int, window: int = 60) -> bool:
    """Count one attempt; True when the user made more than `limit` in the window.

    One round trip: the window's counter is created with its expiry and counted in
    one MULTI/EXEC, so it can neither expire between the two nor live without one.
    A Redis outage lets the attempt through: the limit protects our X budget, and
    refusing every reader while Redis is down would be worse.
    """
    key = rate_limit_key(action, user_id)
    try:
        with get_redis().pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
            _, attempts = pipe.execute()
    except Exception as error:  # redis-py raises several connection error types
        logger.warning("rate limit %s unavailable: %s", action, type(error).__name__)
        return False
    return int(attempts) > limit
