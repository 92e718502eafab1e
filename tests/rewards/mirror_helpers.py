"""Helpers shared by the mirror tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rewards.mirror import schema
from rewards.mirror.built import marker_key
from rewards.mirror.topology import slot_ranges


def unix(value: datetime | None) -> str:
    assert value is not None
    return str(int(value.timestamp()))


def at(seconds_ago: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)


def prefixed_keys(redis) -> set[str]:
    """Every key this test wrote (the root conftest gives each test its prefix, and
    marks its mirror built), on every node of a cluster."""
    keys = set(redis.scan_iter(match=schema.key_pattern("*"), count=1000))
    markers = schema.key_pattern("mirror", "built", "")
    return {key for key in keys if not key.startswith(markers)}


def dump(redis) -> dict[str, object]:
    """The whole mirror of this test, by key, for before/after comparisons."""
    state: dict[str, object] = {}
    for key in prefixed_keys(redis):
        kind = redis.type(key)
        if kind == "hash":
            state[key] = redis.hgetall(key)
        elif kind == "zset":
            state[key] = redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            state[key] = sorted(redis.smembers(key))
    return state


def is_built(redis) -> bool:
    """Whether every slot range of the mirror is marked built."""
    return all(redis.exists(marker_key(slots)) for slots in slot_ranges(redis))
