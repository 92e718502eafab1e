"""The one-time move from the single-server layout (keys without hash tags, global
`by_status` and `by_rewarded_at` indexes, one `mirror:built` marker) to today's
(the totals are rebuilt by the backfill from the rows, so the old ones just go):
run by `sync_share_rewards_to_redis --prune` after the backfill has written the new
keys (docs/mirror.md, "Moving from the untagged layout"). What other writers kept in
the old keys moves with them: entries of other kinds in a feed, multipliers other
than `x_multiplier`. Safe to re-run: the new keys are written before the old ones go.

The keys of the (user, campaign) layout that came between (hash-tagged, one reward
per reader and campaign) are not this module's: they share today's key patterns and
the users' totals, so the check counts them as drift and the repair removes them
while it rewrites their users whole (check.py; docs/mirror.md, "Moving from the
(user, campaign) layout").
"""

from __future__ import annotations

from collections.abc import Callable

from blockster.redis_client import MirrorClient, get_mirror_redis

from .scan import scan_keys
from .schema import (
    X_SHARE_ENTRY_PREFIX,
    activity_feed_key,
    key_pattern,
    strip_prefix,
    user_multipliers_key,
)
from .topology import Pipe
from .write import DEFAULT_BATCH_SIZE

# The untagged layout's keys, after the prefix: an id right after the last colon
# (today's keys have a hash tag there).
DROPPED = (
    ("share_reward", "[0-9]*"),
    ("share_rewards", "by_user", "[0-9]*"),
    ("share_rewards", "by_campaign", "[0-9]*"),
    ("share_rewards", "by_status", "*"),
    ("share_rewards", "by_rewarded_at"),
    ("user_totals", "[0-9]*"),
    ("mirror", "built"),
)
FEEDS = ("activity_feed", "[0-9]*")
MULTIPLIERS = ("user_multipliers", "[0-9]*")


def remove_previous_layout(*, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Remove every key of the previous layout, moving what is not the share
    mirror's to the user's new key; returns how many keys were removed."""
    client = get_mirror_redis()
    removed = sum(_remove(client, parts, batch_size) for parts in DROPPED)
    removed += _remove(client, FEEDS, batch_size, move=_move_feed_entries)
    removed += _remove(client, MULTIPLIERS, batch_size, move=_move_multipliers)
    return removed


def _remove(
    client: MirrorClient,
    parts: tuple[str, ...],
    batch_size: int,
    move: Callable[[MirrorClient, list[str]], None] | None = None,
) -> int:
    removed = 0
    for keys in scan_keys(client, key_pattern(*parts), count=batch_size):
        if move is not None:
            move(client, keys)
        # One key a command: on a cluster the old keys are in many slots.
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.unlink(key)
            removed += sum(pipe.execute())
    return removed


def _user(key: str) -> int:
    return int(strip_prefix(key).rpartition(":")[2])


def _move_feed_entries(client: MirrorClient, keys: list[str]) -> None:
    """Entries of other reward kinds to the user's new feed (the backfill wrote
    the X shares there already)."""
    feeds = _read(
        client, keys, lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True)
    )
    with client.pipeline(transaction=False) as pipe:
        for key, entries in zip(keys, feeds, strict=True):
            foreign = {
                entry: score
                for entry, score in entries
                if not entry.startswith(X_SHARE_ENTRY_PREFIX)
            }
            if foreign:
                pipe.zadd(activity_feed_key(_user(key)), foreign, nx=True)
        pipe.execute()


def _move_multipliers(client: MirrorClient, keys: list[str]) -> None:
    """Multipliers other than `x_multiplier` (which the backfill rewrote from
    PostgreSQL) to the user's new hash, unless it has them already."""
    hashes = _read(client, keys, lambda pipe, key: pipe.hgetall(key))
    with client.pipeline(transaction=False) as pipe:
        for key, fields in zip(keys, hashes, strict=True):
            new = user_multipliers_key(_user(key))
            for name, value in fields.items():
                if name != "x_multiplier":
                    pipe.hsetnx(new, name, value)
        pipe.execute()


def _read(
    client: MirrorClient, keys: list[str], read: Callable[[Pipe, str], object]
) -> list:
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            read(pipe, key)
        return list(pipe.execute())
