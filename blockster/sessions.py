"""Sessions in PostgreSQL with the Redis cache in front, surviving a Redis outage.

Django's `cached_db` backend reads the cache first and writes through to the
database, but some of its cache calls (the refill after a database read, `exists`,
`delete`) let a cache error escape, so with Redis down every signed-in request
answered 500. This store gives it a cache that turns each error into a miss (reads)
or a skipped write: sessions are then read from and written to PostgreSQL alone.
Everything else is Django's, so the standard session settings apply unchanged.

A session saved or ended while the cache was failing may have an older copy in a
Redis that comes back with its data (restarted from disk, or only unreachable).
Each process remembers those keys, reads them from PostgreSQL, and deletes them
from the cache once it answers again, so a sign-out during an outage stays signed
out. docs/operations.md has the remaining window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends import cached_db
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

logger = logging.getLogger(__name__)

_FAILED = object()

# Keys remembered per process while the cache fails: about 100 bytes each.
MAX_STALE_KEYS = 100_000


class _CacheHealth:
    """Per process: whether the cache is failing (so an outage is logged when it
    starts and when it ends, not on every request in between), and the keys whose
    cache copy may be older than PostgreSQL's."""

    failing = False
    stale: ClassVar[set[str]] = set()

    @classmethod
    def failed(cls, error: Exception) -> None:
        if not cls.failing:
            cls.failing = True
            logger.warning(
                "session cache unavailable (%s); sessions use PostgreSQL alone",
                type(error).__name__,
            )

    @classmethod
    def mark_stale(cls, key: str) -> None:
        if len(cls.stale) < MAX_STALE_KEYS:
            cls.stale.add(key)

    @classmethod
    def worked(cls, cache: BaseCache) -> None:
        if not cls.failing:
            return
        cls.failing = False
        keys = list(cls.stale)
        try:
            cache.delete_many(keys)
        except Exception as error:  # failing again: the next success retries
            cls.failed(error)
            return
        cls.stale.difference_update(keys)
        logger.info("session cache is back; %d stale copies deleted", len(keys))


class ForgivingCache:
    """The calls cached_db makes on its cache, each answering a miss on error."""

    def __init__(self, cache: BaseCache) -> None:
        self._cache = cache

    def __str__(self) -> str:
        return str(self._cache)

    def _call(self, call: Callable[..., Any], *args: Any) -> Any:
        """`call`'s result, or _FAILED when the cache raised."""
        # Any error: the backends raise their client's own types (redis-py has
        # several), and Django's cached_db already treats a failed get this way.
        try:
            result = call(*args)
        except Exception as error:
            _CacheHealth.failed(error)
            return _FAILED
        _CacheHealth.worked(self._cache)
        return result

    def get(self, key: str) -> Any:
        if key in _CacheHealth.stale:
            return None
        result = self._call(self._cache.get, key)
        return None if result is _FAILED else result

    def __contains__(self, key: str) -> bool:
        if key in _CacheHealth.stale:
            return False
        return self._call(self._cache.has_key, key) is True

    def set(self, key: str, value: Any, timeout: int) -> None:
        if self._call(self._cache.set, key, value, timeout) is _FAILED:
            _CacheHealth.mark_stale(key)
        else:
            _CacheHealth.stale.discard(key)

    def delete(self, key: str) -> None:
        if self._call(self._cache.delete, key) is _FAILED:
            _CacheHealth.mark_stale(key)

    async def aget(self, key: str) -> Any:
        return await sync_to_async(self.get)(key)

    async def aset(self, key: str, value: Any, timeout: int) -> None:
        await sync_to_async(self.set)(key, value, timeout)

    async def adelete(self, key: str) -> None:
        await sync_to_async(self.delete)(key)


class SessionStore(cached_db.SessionStore):
    """`SESSION_ENGINE = "blockster.sessions"`: Django's cached_db, whose cache may
    be down."""

    _cache: ForgivingCache

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = ForgivingCache(caches[settings.SESSION_CACHE_ALIAS])
