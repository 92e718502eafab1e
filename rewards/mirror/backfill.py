"""The backfill: every ShareReward row, then every X multiplier, from PostgreSQL to
Redis (`sync_share_rewards_to_redis`). Safe to re-run: it leaves exactly the state
the live write path leaves, key by key.

Rows are read as plain tuples (times as epoch floats, amounts as text) from one
server-side cursor, a user's rows together; while Redis applies one batch, the next
is read from PostgreSQL (a writer thread). A batch is grouped by unit (topology.py:
the whole batch on a single server, each user slot and each campaign slot on a
cluster) and sent as one pipeline of script calls, which a cluster client splits
into one pipeline per node.
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

from blockster.redis_client import REDIS_ERRORS, MirrorClient, get_mirror_redis
from campaigns.models import ShareReward

from .built import mark_built
from .legacy import remove_previous_layout
from .multipliers import restore_user_multipliers
from .scan import stray_hashes
from .schema import (
    BUX_PLACES,
    COLUMNS,
    FEED_LOOKUPS,
    FEED_STATUSES,
    RewardRow,
    activity_feed_key,
    by_campaign_key,
    by_user_key,
    encode_feed_entry,
    feed_entry_id,
    feed_entry_prefix,
    member,
    share_reward_key,
    user_tag,
    user_totals_key,
)
from .topology import group_by_unit, run_ids
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
_CAMPAIGN_INDEX = Path(__file__).with_name("campaign_index.lua").read_text()
# Both are sent as EVAL, not EVALSHA: a node restarted or promoted in a failover may
# not know a loaded script, and the script is small beside a call's rows.
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
    backfill); with `prune`, also remove mirror entries whose rows no longer exist
    and the keys of the previous layout (legacy.py). A pass without errors marks
    the mirror built.

    `progress(done, total)` is called after each batch.
    """
    total = ShareReward.objects.count()
    result: SyncResult = {"total": 0, "success": 0, "errors": 0, "multipliers": 0}
    client = get_mirror_redis()
    began = run_ids(client)
    batches: queue.Queue[list[tuple] | None] = queue.Queue(maxsize=2)
    # What stopped the writer thread: raised here once it has ended, so an error in
    # it (a bug, a progress callback that raises) fails the pass instead of leaving
    # the reader blocked on a full queue.
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (batch := batches.get()) is not None:
                errors = _write_batch(client, batch)
                result["total"] += len(batch)
                result["errors"] += errors
                result["success"] += len(batch) - errors
                if progress is not None:
                    progress(result["total"], max(total, result["total"]))
        except BaseException as error:
            failure.append(error)
            # Keep taking batches until the end marker, so no put() waits forever.
            while batches.get() is not None:
                pass

    thread = threading.Thread(target=writer, name="mirror-backfill", daemon=True)
    thread.start()
    try:
        for batch in _batches(batch_size):
            if failure:
                break
            batches.put(batch)
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]
    result["multipliers"] = restore_user_multipliers(batch_size=batch_size)
    if prune:
        pruned = prune_orphaned_rewards(batch_size=batch_size)
        logger.info("pruned %d orphaned share rewards from the mirror", pruned)
        moved = remove_previous_layout(batch_size=batch_size)
        logger.info("removed %d keys of the previous mirror layout", moved)
    if result["errors"] == 0:
        mark_built(client, began)
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
    """The backfill's rows by user (the unique index's order, user and campaign
    tweet, so a user's rows, one slot's work on a cluster, arrive together),
    `batch_size` at a time, from one server-side cursor. The ORM builds the query;
    its per-value converters are skipped, since every column already comes out as
    the type the script needs."""
    order = ("user_id", "campaign_tweet_id")
    sql, params = _rows().order_by(*order).query.sql_with_params()
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
    """The script's ARGV[1]: the columns in row order and the pieces the keys,
    members and feed-entry prefixes are built from, taken from the key functions
    themselves (called with marker values), so the script writes the same keys."""
    user, campaign, tweet = "<user-id>", "<campaign-id>", "<tweet-id>"
    layout = {
        "columns": COLUMNS,
        "hash": _cut(share_reward_key(user, campaign, tweet), user, campaign, tweet),
        "member": _cut(member(user, campaign, tweet), user, campaign, tweet),
        "by_user": _cut(by_user_key(user), user),
        "feed": _cut(activity_feed_key(user), user),
        "totals": _cut(user_totals_key(user), user),
        "entry": _cut(
            feed_entry_prefix(feed_entry_id(campaign, tweet)), campaign, tweet
        ),
        "places": BUX_PLACES,
        "feed_statuses": FEED_STATUSES,
    }
    return json.dumps(layout)


def _entries(chunk: list[tuple]) -> list[str]:
    """Each row's feed entry, built by the live path's encoder; "" unless the row is
    rewarded."""
    campaign, tweet = _AT["campaign_id"], _AT["campaign_tweet_id"]
    retweet, status = _AT["retweet_id"], _AT["status"]
    amount, rewarded, tx_hash = _AT["bux_rewarded"], _AT["rewarded_at"], _AT["tx_hash"]
    return [
        encode_feed_entry(
            row[campaign],
            row[tweet],
            str(row[amount]),
            row[retweet],
            row[tx_hash],
            int(row[rewarded]),
            liked=row[_AT["liked"]],
            retweet_post_id=row[_AT["retweet_post_id"]],
            title=row[_AT["post_title"]],
            slug=row[_AT["post_slug"]],
            undone=row[status] == "undone",
        )
        if row[status] in FEED_STATUSES and row[rewarded] is not None
        else ""
        for row in chunk
    ]


def _write_batch(client: MirrorClient, batch: list[tuple]) -> int:
    """Write one batch in one pipeline (not MULTI: every write is idempotent, and a
    re-run mends a half-applied batch): per unit, calls of the row script, then the
    campaign indexes. Returns how many rows failed."""
    layout = _layout()
    user, campaign = _AT["user_id"], _AT["campaign_id"]
    calls: list[list[int]] = []  # the batch positions each call writes
    with client.pipeline(transaction=False) as pipe:
        units = group_by_unit(
            client, range(len(batch)), lambda at: user_tag(batch[at][user])
        )
        for positions in units.values():
            for start in range(0, len(positions), _ROWS_PER_CALL):
                chunk = positions[start : start + _ROWS_PER_CALL]
                rows = [batch[at] for at in chunk]
                # One JSON argument per call: encoding it is one C call, where
                # thirty arguments a row cost more than Redis's own work. The key
                # names the unit's slot for a cluster client; the script builds
                # the others (all in that slot) from the layout.
                data = json.dumps([rows, _entries(rows)])
                routing = by_user_key(rows[0][user])
                pipe.execute_command("EVAL", _BACKFILL, 1, routing, layout, data)
                calls.append(chunk)
        by_campaign: dict[int, list[int]] = {}
        for at, row in enumerate(batch):
            by_campaign.setdefault(row[campaign], []).append(at)
        for campaigns in group_by_unit(
            client, by_campaign, lambda c: by_campaign_key(c)
        ).values():
            keys = [by_campaign_key(c) for c in campaigns]
            members = [_campaign_members(batch, by_campaign[c]) for c in campaigns]
            pipe.execute_command("EVAL", _CAMPAIGN_INDEX, len(keys), *keys, *members)
            calls.append([at for c in campaigns for at in by_campaign[c]])
        try:
            replies = pipe.execute(raise_on_error=False)
        except REDIS_ERRORS as error:
            record_failure(f"a backfill batch of {len(batch)} rows", error)
            return len(batch)
    failed: set[int] = set()
    for chunk, reply in zip(calls, replies, strict=True):
        if isinstance(reply, Exception):
            # A script stops at its first error; the whole call is counted, since
            # the rows before it cannot be told apart. A re-run writes them all.
            failed.update(chunk)
            record_failure(f"a backfill call from reward {batch[chunk[0]][0]}", reply)
    return len(failed)


def _campaign_members(batch: list[tuple], positions: list[int]) -> str:
    """A campaign's `by_campaign` entries of this batch, as the index script takes
    them: JSON [[created_at, member], ...]."""
    user, campaign, created = _AT["user_id"], _AT["campaign_id"], _AT["created_at"]
    tweet = _AT["campaign_tweet_id"]
    return json.dumps(
        [
            [
                batch[at][created],
                member(batch[at][user], batch[at][campaign], batch[at][tweet]),
            ]
            for at in positions
        ]
    )


def prune_orphaned_rewards(*, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Remove the hash, index and feed entries of rewards that have no row. (Hashes
    of the previous (user, campaign) layout are the repair's: it rewrites their
    users whole, totals included.)"""
    removed = 0
    for found in stray_hashes(batch_size=batch_size):
        if found.orphans:
            # Re-read under WATCH: a row created since the SCAN is written, not
            # removed.
            sync_share_rewards(found.orphans)
            removed += len(found.orphans)
    return removed
