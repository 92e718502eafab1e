"""Streaming both sides of the mirror in batches: PostgreSQL's rows through a
server-side cursor, Redis's keys by SCAN (never KEYS), on every primary of a
cluster. Memory stays flat however many rewards there are."""

from __future__ import annotations

from collections.abc import Iterator

from blockster.redis_client import MirrorClient, get_mirror_redis

from .schema import RewardRow, key_pattern, share_reward_pair
from .write import DEFAULT_BATCH_SIZE, existing_pairs, reward_rows


def iter_reward_batches(
    batch_size: int = DEFAULT_BATCH_SIZE, *, order_by: tuple[str, ...] = ("id",)
) -> Iterator[list[RewardRow]]:
    """Every ShareReward row as RewardRow lists of `batch_size`, streamed through a
    server-side cursor: memory stays flat however many rows there are."""
    rows = reward_rows().order_by(*order_by).iterator(chunk_size=batch_size)
    batch: list[RewardRow] = []
    for row in rows:
        batch.append(RewardRow._make(row))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def scan_keys(
    client: MirrorClient, pattern: str, *, count: int = 1000
) -> Iterator[list[str]]:
    """Keys matching `pattern`, in lists of about `count` (SCAN, never KEYS; a
    cluster client scans each primary in turn)."""
    keys: list[str] = []
    for key in client.scan_iter(match=pattern, count=count):
        keys.append(key)
        if len(keys) >= count:
            yield keys
            keys = []
    if keys:
        yield keys


def orphaned_hash_pairs(
    *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[list[tuple[int, int]]]:
    """Pairs that have a `share_reward` hash in Redis but no row, per SCAN batch."""
    pattern = key_pattern("share_reward", "{user:*")
    for keys in scan_keys(get_mirror_redis(), pattern, count=batch_size):
        pairs = [pair for key in keys if (pair := share_reward_pair(key))]
        if pairs:
            existing = existing_pairs(pairs)
            orphans = [pair for pair in pairs if pair not in existing]
            if orphans:
                yield orphans
