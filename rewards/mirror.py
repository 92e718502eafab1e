"""The Redis side of things: every key string is built here, under REDIS_KEY_PREFIX."""

from __future__ import annotations

import logging

from django.conf import settings
from redis.exceptions import RedisError

from blockster.redis_client import get_redis

logger = logging.getLogger(__name__)


def _key(*parts: object) -> str:
    return settings.REDIS_KEY_PREFIX + ":".join(str(part) for part in parts)


def rate_limit_key(endpoint: str, x_user_id: str) -> str:
    """X's last reported rate-limit window for one user and endpoint (a HASH)."""
    return _key("x_rate_limit", endpoint, x_user_id)


def user_multipliers_key(user_id: int) -> str:
    return _key("user_multipliers", user_id)


def set_user_x_multiplier(user_id: int, score: int) -> bool:
    """Mirror the user's X score; False (logged) when Redis is unavailable."""
    try:
        get_redis().hset(user_multipliers_key(user_id), "x_multiplier", score)
    except RedisError as error:
        logger.warning("x_multiplier of user %s not mirrored: %s", user_id, error)
        return False
    return True


def get_user_x_multiplier(user_id: int) -> int:
    """The user's X score (1-100): Redis first, PostgreSQL when Redis misses or is
    down, and 1 for a user with no score yet."""
    redis_up = True
    try:
        cached = get_redis().hget(user_multipliers_key(user_id), "x_multiplier")
    except RedisError as error:
        logger.warning("x_multiplier read fell back to PostgreSQL: %s", error)
        cached, redis_up = None, False
    if cached is not None:
        return int(cached)
    from social.models import XConnection

    score = (
        XConnection.objects.filter(user_id=user_id, x_score__isnull=False)
        .values_list("x_score", flat=True)
        .first()
    )
    if score is None:
        return 1
    if redis_up:
        set_user_x_multiplier(user_id, score)  # mend the mirror's miss
    return score
