"""One Redis connection pool per URL, shared by the mirror, health checks, commands."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        decode_responses=True,
        health_check_interval=30,
    )


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL, settings.REDIS_SOCKET_TIMEOUT)
