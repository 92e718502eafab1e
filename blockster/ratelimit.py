"""A per-user fixed-window counter in the cache (Redis), for actions that cost money."""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def over_limit(action: str, user_id: int, *, limit: int, window: int = 60) -> bool:
    """Count one attempt; True when the user made more than `limit` in the window.

    A cache outage lets the attempt through: the limit protects our X budget, and
    refusing every reader while Redis is down would be worse.
    """
    key = f"ratelimit:{action}:{user_id}"
    try:
        cache.add(key, 0, timeout=window)
        return cache.incr(key) > limit
    except ValueError:  # the window expired between add and incr
        cache.set(key, 1, timeout=window)
        return False
    except Exception as error:  # redis-py raises several connection error types
        logger.warning("rate limit %s unavailable: %s", action, type(error).__name__)
        return False
