"""The Redis fast-read mirror of share rewards and multipliers.

PostgreSQL is the source of truth. Every key string is built here, under
REDIS_KEY_PREFIX. Writes happen after the PostgreSQL transaction commits, a whole row
and its index entries in one MULTI/EXEC pipeline; a Redis failure is logged and
counted, never raised to the user, and `check_mirror --repair` mends the drift.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from blockster.redis_client import get_redis

logger = logging.getLogger(__name__)

STATUSES = ("pending", "verified", "rewarded", "failed")
HASH_FIELDS = (
    "id",
    "user_id",
    "campaign_id",
    "x_connection_id",
    "retweet_id",
    "status",
    "bux_rewarded",
    "verified_at",
    "rewarded_at",
    "failure_reason",
    "tx_hash",
    "created_at",
    "updated_at",
)
TIME_FIELDS = {"verified_at", "rewarded_at", "created_at", "updated_at"}

# Process-wide count of mirror writes that failed (exposed for monitoring and tests).
write_failures = 0


# --- Keys -----------------------------------------------------------------------------


def _key(*parts: object) -> str:
    return settings.REDIS_KEY_PREFIX + ":".join(str(part) for part in parts)


def rate_limit_key(endpoint: str, x_user_id: str) -> str:
    """X's last reported rate-limit window for one user and endpoint (a HASH)."""
    return _key("x_rate_limit", endpoint, x_user_id)


def user_multipliers_key(user_id: int) -> str:
    return _key("user_multipliers", user_id)


def share_reward_key(user_id: int, campaign_id: int) -> str:
    return _key("share_reward", user_id, campaign_id)


def by_user_key(user_id: int) -> str:
    return _key("share_rewards", "by_user", user_id)


def by_campaign_key(campaign_id: int) -> str:
    return _key("share_rewards", "by_campaign", campaign_id)


def by_status_key(status: str) -> str:
    return _key("share_rewards", "by_status", status)


def by_rewarded_at_key() -> str:
    return _key("share_rewards", "by_rewarded_at")


def activity_feed_key(user_id: int) -> str:
    return _key("activity_feed", user_id)


def member(user_id: int, campaign_id: int) -> str:
    return f"{user_id}:{campaign_id}"


# --- Multipliers ----------------------------------------------------------------------


def set_user_x_multiplier(user_id: int, score: int) -> bool:
    """Mirror the user's X score; False (logged) when Redis is unavailable."""
    try:
        get_redis().hset(user_multipliers_key(user_id), "x_multiplier", score)
    except RedisError as error:
        _failed(f"x_multiplier of user {user_id}", error)
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


# --- Share rewards --------------------------------------------------------------------


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def reward_hash(reward) -> dict[str, str]:
    """The mirror's HASH for one ShareReward row (null fields are left out)."""
    values: dict[str, Any] = {name: getattr(reward, name) for name in HASH_FIELDS}
    for name in TIME_FIELDS:
        values[name] = _unix(values[name])
    values["failure_reason"] = values["failure_reason"] or None
    values["retweet_id"] = values["retweet_id"] or None
    return {name: str(value) for name, value in values.items() if value is not None}


def feed_entry(reward) -> str:
    """A ready-to-render activity entry (deterministic, so rewriting it is a no-op)."""
    return json.dumps(
        {
            "type": "x_share",
            "label": "X Share",
            "campaign_id": reward.campaign_id,
            "amount": str(reward.bux_rewarded),
            "retweet_id": reward.retweet_id,
            "tx_hash": reward.tx_hash,
            "timestamp": _unix(reward.rewarded_at),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def write_reward(pipe, reward) -> None:
    """Queue on `pipe` the commands that make Redis hold exactly this row."""
    key = share_reward_key(reward.user_id, reward.campaign_id)
    item = member(reward.user_id, reward.campaign_id)
    created = reward.created_at.timestamp()
    pipe.delete(key)
    pipe.hset(key, mapping=reward_hash(reward))
    pipe.zadd(by_user_key(reward.user_id), {item: created})
    pipe.zadd(by_campaign_key(reward.campaign_id), {item: created})
    for status in STATUSES:
        if status != reward.status:
            pipe.srem(by_status_key(status), item)
    pipe.sadd(by_status_key(reward.status), item)
    if reward.status == "rewarded":
        pipe.zadd(by_rewarded_at_key(), {item: reward.rewarded_at.timestamp()})
        pipe.zadd(
            activity_feed_key(reward.user_id),
            {feed_entry(reward): reward.rewarded_at.timestamp()},
        )
    else:
        pipe.zrem(by_rewarded_at_key(), item)


def remove_reward(pipe, user_id: int, campaign_id: int) -> None:
    item = member(user_id, campaign_id)
    pipe.delete(share_reward_key(user_id, campaign_id))
    pipe.zrem(by_user_key(user_id), item)
    pipe.zrem(by_campaign_key(campaign_id), item)
    for status in STATUSES:
        pipe.srem(by_status_key(status), item)
    pipe.zrem(by_rewarded_at_key(), item)


def sync_share_reward(user_id: int, campaign_id: int) -> bool:
    """Make Redis match PostgreSQL for one (user, campaign) pair: write the row, or
    remove it when the row is gone. False (logged and counted) if Redis failed."""
    from campaigns.models import ShareReward

    reward = ShareReward.objects.filter(
        user_id=user_id, campaign_id=campaign_id
    ).first()
    try:
        with get_redis().pipeline(transaction=True) as pipe:
            if reward is None:
                remove_reward(pipe, user_id, campaign_id)
            else:
                write_reward(pipe, reward)
            pipe.execute()
    except RedisError as error:
        _failed(f"share reward {member(user_id, campaign_id)}", error)
        return False
    return True


def sync_share_reward_after_commit(user_id: int, campaign_id: int) -> None:
    transaction.on_commit(lambda: sync_share_reward(user_id, campaign_id))


def _failed(what: str, error: Exception) -> None:
    global write_failures
    write_failures += 1
    logger.warning(
        "mirror write of %s failed (%s); check_mirror --repair mends it", what, error
    )


def list_user_share_rewards(
    user_id: int, *, offset: int = 0, limit: int = 20
) -> list[dict[str, Any]]:
    """The user's rewarded X shares, newest first, from Redis alone."""
    key = activity_feed_key(user_id)
    entries = get_redis().zrevrange(key, offset, offset + limit - 1)
    shares = []
    for raw in entries:
        entry = json.loads(raw)
        if entry.get("type") != "x_share":
            continue
        shares.append(
            {
                "type": "x_share",
                "label": entry["label"],
                "amount": Decimal(entry["amount"]),
                "retweet_id": entry["retweet_id"],
                "tx_hash": entry["tx_hash"],
                "timestamp": datetime.fromtimestamp(entry["timestamp"], UTC),
            }
        )
    return shares
