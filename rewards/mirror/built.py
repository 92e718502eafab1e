"""The built marker: whether the mirror is whole.

An empty or short feed can mean "no rewards" or "Redis lost the mirror and nothing has
rebuilt it yet". A complete backfill or repair writes `mirror:built` (the Redis
server's run id); a Redis that restarts empty loses it with everything else. Readers
check it, and while it is missing they are answered from PostgreSQL and queue one
repair.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from redis.exceptions import RedisError

from .schema import mirror_built_key, rebuild_requested_key

logger = logging.getLogger(__name__)

# The repair task is sent by name: rewards.tasks imports the mirror's check, so the
# mirror cannot import the tasks back.
REPAIR_MIRROR_TASK = "rewards.tasks.repair_mirror_task"
# A reader that finds the mirror not built queues a repair at most this often (beat
# runs one every 10 minutes anyway).
REBUILD_REQUEST_SECONDS = 600


class MirrorNotBuilt(RedisError):
    """Redis lost the mirror (it restarted empty, or failed over) and no backfill or
    repair has rebuilt it since: an empty or short feed may mean "not rebuilt yet",
    not "no entries". A RedisError, so readers fall back to PostgreSQL as they do
    while Redis is down."""


def redis_run_id(client: Any) -> str:
    """The Redis server's run id, new each time it starts (or fails over)."""
    return str(client.info("server")["run_id"])


def mark_built(client: Any, run_id: str) -> bool:
    """After a complete pass that began on server `run_id`: mark the mirror built,
    unless the server restarted during the pass (what it wrote before is gone)."""
    client.set(mirror_built_key(), run_id)
    if redis_run_id(client) == run_id:
        return True
    # Written to a server that is not the one the pass began on.
    client.delete(mirror_built_key())
    logger.warning("Redis restarted during the mirror pass; not marked built")
    return False


def ensure_built(client: Any) -> None:
    """Raise MirrorNotBuilt, after queueing a rebuild, unless the mirror is built."""
    if client.exists(mirror_built_key()):
        return
    request_rebuild(client)
    raise MirrorNotBuilt("the mirror has not been rebuilt since Redis lost it")


def request_rebuild(client: Any) -> bool:
    """Queue a repair pass, at most once per REBUILD_REQUEST_SECONDS across every
    process; False when one was queued already or the broker is down."""
    key = rebuild_requested_key()
    if not client.set(key, "1", nx=True, ex=REBUILD_REQUEST_SECONDS):
        return False
    try:
        current_app.send_task(REPAIR_MIRROR_TASK)
    except Exception as error:  # kombu raises several types for a dead broker
        client.delete(key)  # the next reader asks again
        logger.warning("mirror rebuild not queued (%s)", type(error).__name__)
        return False
    logger.info("the mirror is not built: repair queued")
    return True
