"""Streaming both sides of the mirror in batches: PostgreSQL's rows through a
server-side cursor, Redis's keys by SCAN (never KEYS), on every primary of a
cluster. Memory stays flat however many rewards there are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from blockster.redis_client import MirrorClient, get_mirror_redis

from .schema import (
    RewardRef,
    RewardRow,
    key_pattern,
    previous_share_reward_pair,
    share_reward_ref,
)
from .write import DEFAULT_BATCH_SIZE, existing_refs, reward_rows


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


class HashBatch(NamedTuple):
    """One SCAN batch of `share_reward` hashes that should not be there: rewards
    with no row, and (user, campaign) pairs of the previous layout."""

    orphans: list[RewardRef]
    previous: list[tuple[int, int]]


def stray_hashes(*, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[HashBatch]:
    """The `share_reward` hashes in Redis whose reward has no row, or that are of
    the previous (user, campaign) layout, per SCAN batch (one existence query
    each)."""
    pattern = key_pattern("share_reward", "{user:*")
    for keys in scan_keys(get_mirror_redis(), pattern, count=batch_size):
        refs = [ref for key in keys if (ref := share_reward_ref(key))]
        existing = existing_refs(refs) if refs else set()
        orphans = [ref for ref in refs if ref not in existing]
        previous = [p for key in keys if (p := previous_share_reward_pair(key))]
        if orphans or previous:
            yield HashBatch(orphans, previous)
