"""`user_multipliers:{user_id}`: the reader's X score as `x_multiplier`, for other
services that read multipliers. PostgreSQL's XConnection.x_score is the truth."""

from __future__ import annotations

import logging
from collections.abc import Collection

from blockster.redis_client import REDIS_ERRORS, get_mirror_reader, get_mirror_redis
from social.models import XConnection

from ..amounts import DEFAULT_X_MULTIPLIER
from .schema import user_multipliers_key
from .topology import Pipe, group_by_unit
from .write import DEFAULT_BATCH_SIZE, record_failure, watched_transaction

logger = logging.getLogger(__name__)


def set_user_x_multiplier(user_id: int, score: int) -> bool:
    """Mirror the user's X score; False (logged) when Redis is unavailable."""
    try:
        get_mirror_redis().hset(user_multipliers_key(user_id), "x_multiplier", score)
    except REDIS_ERRORS as error:
        record_failure(f"x_multiplier of user {user_id}", error)
        return False
    return True


def get_user_x_multiplier(user_id: int) -> int:
    """The user's X score (1-100): Redis first (a replica, when one is configured),
    PostgreSQL when Redis misses or is down, and the default multiplier for a user
    with no score yet."""
    redis_up = True
    try:
        cached = get_mirror_reader().hget(user_multipliers_key(user_id), "x_multiplier")
    except REDIS_ERRORS as error:
        logger.warning("x_multiplier read fell back to PostgreSQL: %s", error)
        cached, redis_up = None, False
    if cached is not None:
        return int(cached)
    score = (
        XConnection.objects.filter(user_id=user_id, x_score__isnull=False)
        .values_list("x_score", flat=True)
        .first()
    )
    if score is None:
        return DEFAULT_X_MULTIPLIER
    if redis_up:
        set_user_x_multiplier(user_id, score)  # mend the mirror's miss
    return score


def x_scores_for_users(user_ids: Collection[int]) -> dict[int, int]:
    rows = XConnection.objects.filter(
        user_id__in=list(user_ids), x_score__isnull=False
    ).values_list("user_id", "x_score")
    return {user_id: score for user_id, score in rows if score is not None}


def sync_user_multipliers(user_ids: Collection[int]) -> None:
    """Make `x_multiplier` match PostgreSQL for these users: the score of their X
    connection, or no field when they have none. Other multiplier fields are kept.
    One WATCHed write per unit (topology.py). Raises RedisError (or a cluster
    error)."""
    client = get_mirror_redis()
    groups = group_by_unit(client, dict.fromkeys(user_ids), user_multipliers_key)
    for users in groups.values():
        keys = [user_multipliers_key(user_id) for user_id in users]

        def write(pipe: Pipe, users: list[int] = users) -> None:
            scores = x_scores_for_users(users)
            pipe.multi()
            for user_id in users:
                if user_id in scores:
                    pipe.hset(
                        user_multipliers_key(user_id), "x_multiplier", scores[user_id]
                    )
                else:
                    pipe.hdel(user_multipliers_key(user_id), "x_multiplier")

        watched_transaction(client, write, keys)


def sync_user_multiplier_quietly(user_id: int) -> None:
    """sync_user_multipliers for one user, a Redis failure logged and counted."""
    try:
        sync_user_multipliers([user_id])
    except REDIS_ERRORS as error:
        record_failure(f"x_multiplier of user {user_id}", error)


def restore_user_multipliers(*, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """The backfill's multiplier pass: `x_multiplier` of every user with a scored
    X connection, `batch_size` users per WATCHed write. Returns how many users.
    Raises RedisError."""
    users = (
        XConnection.objects.filter(x_score__isnull=False)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .iterator(chunk_size=batch_size)
    )
    batch: list[int] = []
    restored = 0
    for user_id in users:
        batch.append(user_id)
        if len(batch) == batch_size:
            sync_user_multipliers(batch)
            restored, batch = restored + len(batch), []
    if batch:
        sync_user_multipliers(batch)
    return restored + len(batch)
