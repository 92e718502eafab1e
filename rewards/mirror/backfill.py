"""The backfill: every ShareReward row, then every X multiplier, from PostgreSQL to
Redis (`sync_share_rewards_to_redis`). Safe to re-run: it leaves exactly the state
the live write path leaves, key by key.

Rows are read as plain tuples (times as epoch floats, amounts as text) from one
server-side cursor; while Redis applies one batch, the next is read from PostgreSQL
(a writer thread). Each batch is one round trip of backfill.lua calls.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from django.db import connection, models
from django.db.models.functions import Cast, Extract
from redis.exceptions import RedisError

from blockster.redis_client import get_redis
from campaigns.models import ShareReward

from .built import mark_built, redis_run_id
from .multipliers import restore_user_multipliers
from .scan import orphaned_hash_pairs
from .schema import (
    BUX_PLACES,
    COLUMNS,
    FEED_LOOKUPS,
    STATUSES,
    RewardRow,
    activity_feed_key,
    by_campaign_key,
    by_rewarded_at_key,
    by_status_key,
    by_user_key,
    encode_feed_entry,
    feed_entry_id,
    feed_entry_prefix,
    member,
    share_reward_key,
    user_totals_key,
)
from .write import (
    DEFAULT_BATCH_SIZE,
    record_failure,
    reward_rows,
    sync_share_rewards,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

logger = logging.getLogger(__name__)

_BACKFILL = Path(__file__).with_name("backfill.lua").read_text()
# Rows per script call: one call blocks Redis for a few milliseconds, so other
# clients are served between calls.
_ROWS_PER_CALL = 500
# Where the feed entry's parts sit in a backfill row (the script reads only the
# COLUMNS at its head).
_AT = {name: index for index, name in enumerate(RewardRow._fields)}


class SyncResult(TypedDict):
    total: int
    success: int
    errors: int
    multipliers: int


Progress = Callable[[int, int], None]


def sync_all_share_rewards(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    prune: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """Write every ShareReward row, then every user's X multiplier, to Redis (the
    backfill); with `prune`, also remove mirror entries whose rows no longer exist.
    A pass without errors marks the mirror built.

    `progress(done, total)` is called after each batch.
    """
    total = ShareReward.objects.count()
    result: SyncResult = {"total": 0, "success": 0, "errors": 0, "multipliers": 0}
    client = get_redis()
    run_id = redis_run_id(client)
    script = client.register_script(_BACKFILL)
    batches: queue.Queue[list[tuple] | None] = queue.Queue(maxsize=2)

    def writer() -> None:
        while (batch := batches.get()) is not None:
            errors = _write_batch(client, script, batch)
            result["total"] += len(batch)
            result["errors"] += errors
            result["success"] += len(batch) - errors
            if progress is not None:
                progress(result["total"], max(total, result["total"]))

    thread = threading.Thread(target=writer, name="mirror-backfill", daemon=True)
    thread.start()
    try:
        for batch in _batches(batch_size):
            batches.put(batch)
    finally:
        batches.put(None)
        thread.join()
    result["multipliers"] = restore_user_multipliers(batch_size=batch_size)
    if prune:
        pruned = prune_orphaned_rewards(batch_size=batch_size)
        logger.info("pruned %d orphaned share rewards from the mirror", pruned)
    if result["errors"] == 0:
        mark_built(client, run_id)
    return result


def _rows() -> QuerySet[ShareReward, tuple[Any, ...]]:
    """The mirrored columns as the script takes them: times as epoch seconds,
    decimals as text, the rest as they are."""

    def column(name: str) -> str | Cast:
        field = ShareReward._meta.get_field(name)
        if isinstance(field, models.DateTimeField):
            return Cast(Extract(name, "epoch"), models.FloatField())
        if isinstance(field, models.DecimalField):
            return Cast(name, models.TextField())
        return name

    return reward_rows().values_list(*(column(name) for name in COLUMNS), *FEED_LOOKUPS)


def _batches(batch_size: int) -> Iterator[list[tuple]]:
    """The backfill's rows in `id` order, `batch_size` at a time, from one
    server-side cursor. The ORM builds the query; its per-value converters are
    skipped, since every column already comes out as the type the script needs."""
    sql, params = _rows().order_by("id").query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(batch_size):
            yield batch


def _cut(key: str, *markers: str) -> list[str]:
    """`key` split around `markers` (each found once, in order)."""
    pieces = []
    for marker in markers:
        head, found, key = key.partition(marker)
        if not found or marker in key:
            raise ValueError(f"the key layout changed: {marker!r} not in the key")
        pieces.append(head)
    return [*pieces, key]


def _layout() -> str:
    """The script's ARGV[1]: the columns in row order, the statuses, and the key,
    member and feed-entry prefixes, taken from the key functions themselves (called
    with marker values), so the script writes the same keys."""
    user, campaign = "<user-id>", "<campaign-id>"
    hash_head, hash_middle, hash_tail = _cut(
        share_reward_key(user, campaign), user, campaign
    )
    item_head, item_middle, item_tail = _cut(member(user, campaign), user, campaign)
    entry_head, entry_tail = _cut(feed_entry_prefix(feed_entry_id(campaign)), campaign)
    layout = {
        "columns": COLUMNS,
        "statuses": STATUSES,
        "hash": [hash_head, hash_middle],
        "member": [item_head, item_middle],
        "by_user": _cut(by_user_key(user), user)[0],
        "by_campaign": _cut(by_campaign_key(campaign), campaign)[0],
        "feed": _cut(activity_feed_key(user), user)[0],
        "totals": _cut(user_totals_key(user), user)[0],
        "entry": [entry_head, entry_tail],
        "places": BUX_PLACES,
    }
    # Keys that end with their last argument are built by appending it.
    if any(
        (
            hash_tail,
            item_tail,
            *(
                _cut(make(user), user)[1]
                for make in (
                    by_user_key,
                    by_campaign_key,
                    activity_feed_key,
                    user_totals_key,
                )
            ),
        )
    ):
        raise ValueError("the key layout changed: keys must end with their ids")
    return json.dumps(layout)


def _entries(chunk: list[tuple]) -> list[str]:
    """Each row's feed entry, built by the live path's encoder; "" unless the row is
    rewarded."""
    campaign, retweet, status = _AT["campaign_id"], _AT["retweet_id"], _AT["status"]
    amount, rewarded, tx_hash = _AT["bux_rewarded"], _AT["rewarded_at"], _AT["tx_hash"]
    return [
        encode_feed_entry(
            row[campaign],
            str(row[amount]),
            row[retweet],
            row[tx_hash],
            int(row[rewarded]),
            liked=row[_AT["liked"]],
            retweet_post_id=row[_AT["retweet_post_id"]],
            title=row[_AT["post_title"]],
            slug=row[_AT["post_slug"]],
        )
        if row[status] == "rewarded" and row[rewarded] is not None
        else ""
        for row in chunk
    ]


def _write_batch(client: Any, script: Any, batch: list[tuple]) -> int:
    """Write one batch in one round trip (not MULTI: every write is idempotent, and
    a re-run mends a half-applied batch); returns how many rows failed."""
    shared = [by_status_key(status) for status in STATUSES] + [by_rewarded_at_key()]
    layout = _layout()
    chunks = [
        batch[start : start + _ROWS_PER_CALL]
        for start in range(0, len(batch), _ROWS_PER_CALL)
    ]
    try:
        with client.pipeline(transaction=False) as pipe:
            for chunk in chunks:
                # One JSON argument per call: encoding it is one C call, where
                # thirty arguments a row cost more than Redis's own work.
                data = json.dumps([chunk, _entries(chunk)])
                script(keys=shared, args=[layout, data], client=pipe)
            replies = pipe.execute(raise_on_error=False)
    except RedisError as error:
        record_failure(f"a backfill batch of {len(batch)} rows", error)
        return len(batch)
    errors = 0
    for chunk, reply in zip(chunks, replies, strict=True):
        if isinstance(reply, Exception):
            # A script stops at its first error; the whole call is counted, since
            # the rows before it cannot be told apart. A re-run writes them all.
            errors += len(chunk)
            record_failure(f"a backfill call from reward {chunk[0][0]}", reply)
    return errors


def prune_orphaned_rewards(*, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Remove the hash, index and feed entries of pairs that have no row."""
    removed = 0
    for orphans in orphaned_hash_pairs(batch_size=batch_size):
        # Re-read under WATCH: a row created since the SCAN is written, not removed.
        sync_share_rewards(orphans)
        removed += len(orphans)
    return removed
