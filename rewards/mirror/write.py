"""The live write path: after a PostgreSQL commit, make Redis hold exactly what the
rows of some (user, campaign) pairs are now (or nothing, for a row that is gone).

A pair's hash, index entries and feed entry, and the move of its BUX in the user's
totals, are written together in one MULTI/EXEC, under WATCH of its hash: a sync that
read an older row than another writer mirrored meanwhile reads again. A Redis
failure is logged and counted, never raised to the user; `check_mirror --repair`
mends what it left.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from redis.client import Pipeline
from redis.exceptions import RedisError, WatchError

from blockster.redis_client import get_redis
from campaigns.models import ShareReward

from .schema import (
    ROW_LOOKUPS,
    STATUSES,
    RewardRow,
    activity_feed_key,
    bux_units,
    by_campaign_key,
    by_rewarded_at_key,
    by_status_key,
    by_user_key,
    feed_entry,
    feed_entry_id,
    feed_entry_prefix,
    member,
    parse_member,
    reward_hash,
    share_reward_key,
    totals_hash,
    user_totals_key,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

logger = logging.getLogger(__name__)

# Rows (or users) per PostgreSQL fetch and Redis pipeline in the bulk passes.
DEFAULT_BATCH_SIZE = 5000
# Optimistic-lock retries before a sync gives up and leaves the pair to the repair.
WATCH_RETRIES = 5

# Process-wide count of mirror writes that failed (exposed for monitoring and tests).
write_failures = 0


def record_failure(what: str, error: Exception) -> None:
    global write_failures
    write_failures += 1
    logger.warning(
        "mirror write of %s failed (%s); check_mirror --repair mends it", what, error
    )


def watched_transaction(write: Callable[[Pipeline], None], keys: list[str]) -> None:
    """Run `write` (which reads PostgreSQL, then queues commands after pipe.multi())
    under WATCH on `keys`: if another writer changes one of them in between, the read
    may be older than what that writer mirrored, so it is re-read and retried.
    Raises RedisError."""
    with get_redis().pipeline(transaction=True) as pipe:
        for _ in range(WATCH_RETRIES):
            try:
                pipe.watch(*keys)
                write(pipe)
                pipe.execute()
                return
            except WatchError:
                pipe.reset()
    raise RedisError(f"gave up after {WATCH_RETRIES} concurrent writes")


# --- Reading PostgreSQL ---------------------------------------------------------------


def reward_rows() -> QuerySet[ShareReward, tuple[Any, ...]]:
    """Every ShareReward's mirrored columns, as tuples in RewardRow order."""
    return ShareReward.objects.values_list(*ROW_LOOKUPS)


def _pairs_sql(column: str = "id") -> str:
    # Only the model's own table name is interpolated; the pairs are parameters.
    # unnest() keeps this one query with two array parameters however many pairs.
    return (
        f"SELECT {column} FROM {ShareReward._meta.db_table} "  # noqa: S608
        "WHERE (user_id, campaign_id) IN "
        "(SELECT * FROM unnest(%s::bigint[], %s::bigint[]))"
    )


def _split(pairs: Collection[tuple[int, int]]) -> tuple[list[int], list[int]]:
    return [user for user, _ in pairs], [campaign for _, campaign in pairs]


def rows_for_pairs(
    pairs: Collection[tuple[int, int]],
) -> dict[tuple[int, int], RewardRow]:
    """The current rows of these (user, campaign) pairs, in one query."""
    users, campaigns = _split(pairs)
    matching = RawSQL(_pairs_sql(), (users, campaigns))  # noqa: S611
    rows = reward_rows().filter(id__in=matching)
    return {(row[1], row[2]): RewardRow._make(row) for row in rows}


def existing_pairs(pairs: Collection[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these pairs have a row, in one query."""
    users, campaigns = _split(pairs)
    with connection.cursor() as cursor:
        cursor.execute(_pairs_sql("user_id, campaign_id"), (users, campaigns))
        return {(user, campaign) for user, campaign in cursor.fetchall()}


def rows_for_users(user_ids: Collection[int]) -> list[RewardRow]:
    """Every row of these users, in one query."""
    rows = reward_rows().filter(user_id__in=list(user_ids))
    return [RewardRow._make(row) for row in rows]


# --- Writing Redis --------------------------------------------------------------------

_SCRIPTS = {
    name: Path(__file__).with_name(f"{name}.lua").read_text()
    for name in ("feed_replace", "totals_move")
}


def _run_script(pipe: Pipeline, name: str, keys: list[str], args: list[Any]) -> None:
    # EVAL with the script's text (a few hundred bytes): Redis caches it by its SHA,
    # and a restarted server needs nothing loaded first. A registered Script would
    # cost a SCRIPT EXISTS round trip before every pipeline that runs it.
    pipe.eval(_SCRIPTS[name], len(keys), *keys, *args)


def _replace_feed_entry(
    pipe: Pipeline, user_id: int, campaign_id: int, entry: str, score: float
) -> None:
    prefix = feed_entry_prefix(feed_entry_id(campaign_id))
    _run_script(
        pipe, "feed_replace", [activity_feed_key(user_id)], [prefix, entry, score]
    )


def move_totals(pipe: Pipeline, user_id: int, deltas: Counter[str]) -> None:
    """Queue the move of the user's totals by `deltas` (hundredths of a BUX by
    status); nothing when every delta is zero."""
    args = [
        part for status, delta in deltas.items() if delta for part in (status, delta)
    ]
    if args:
        _run_script(pipe, "totals_move", [user_totals_key(user_id)], args)


def _stored_amounts(keys: list[str]) -> list[tuple[str | None, str | None]]:
    """The status and amount each hash holds now (read after WATCH, on another
    connection: a change after the read still fails the EXEC)."""
    with get_redis().pipeline(transaction=False) as reader:
        for key in keys:
            reader.hmget(key, ["status", "bux_rewarded"])
        return [(status, amount) for status, amount in reader.execute()]


def write_reward(pipe: Pipeline, reward: ShareReward | RewardRow) -> None:
    """Queue on `pipe` the commands that make Redis hold exactly this row."""
    key = share_reward_key(reward.user_id, reward.campaign_id)
    item = member(reward.user_id, reward.campaign_id)
    created = reward.created_at.timestamp()
    pipe.delete(key)
    pipe.hset(key, mapping=reward_hash(reward))  # type: ignore[arg-type]  # redis-py: Mapping key invariant
    pipe.zadd(by_user_key(reward.user_id), {item: created})
    pipe.zadd(by_campaign_key(reward.campaign_id), {item: created})
    for status in STATUSES:
        if status != reward.status:
            pipe.srem(by_status_key(status), item)
    pipe.sadd(by_status_key(reward.status), item)
    if reward.status == "rewarded" and reward.rewarded_at is not None:
        rewarded = reward.rewarded_at.timestamp()
        pipe.zadd(by_rewarded_at_key(), {item: rewarded})
        entry = feed_entry(reward)
    else:
        pipe.zrem(by_rewarded_at_key(), item)
        entry, rewarded = "", 0
    _replace_feed_entry(pipe, reward.user_id, reward.campaign_id, entry, rewarded)


def remove_reward(pipe: Pipeline, user_id: int, campaign_id: int) -> None:
    """Queue the removal of a pair's hash, index entries and feed entry."""
    item = member(user_id, campaign_id)
    pipe.delete(share_reward_key(user_id, campaign_id))
    pipe.zrem(by_user_key(user_id), item)
    pipe.zrem(by_campaign_key(campaign_id), item)
    for status in STATUSES:
        pipe.srem(by_status_key(status), item)
    pipe.zrem(by_rewarded_at_key(), item)
    _replace_feed_entry(pipe, user_id, campaign_id, "", 0)


def sync_share_rewards(pairs: Collection[tuple[int, int]]) -> None:
    """Make Redis match PostgreSQL for these (user, campaign) pairs in one MULTI/EXEC:
    each row is written, or removed when it is gone, and each user's totals move by
    what their pairs' hashes held before and hold now. Raises RedisError."""
    pairs = list(dict.fromkeys(pairs))
    keys = [share_reward_key(user_id, campaign_id) for user_id, campaign_id in pairs]

    def write(pipe: Pipeline) -> None:
        stored = _stored_amounts(keys)
        rows = rows_for_pairs(pairs)
        deltas: defaultdict[int, Counter[str]] = defaultdict(Counter)
        pipe.multi()
        for pair, (old_status, old_amount) in zip(pairs, stored, strict=True):
            user_deltas = deltas[pair[0]]
            if old_status is not None:
                user_deltas[old_status] -= bux_units(old_amount)
            row = rows.get(pair)
            if row is None:
                remove_reward(pipe, *pair)
            else:
                write_reward(pipe, row)
                user_deltas[row.status] += bux_units(row.bux_rewarded)
        for user_id, user_deltas in deltas.items():
            move_totals(pipe, user_id, user_deltas)

    watched_transaction(write, keys)


def sync_user_rewards(
    user_ids: Collection[int], pairs: Iterable[tuple[int, int]] = ()
) -> None:
    """Rewrite these users' mirror whole in one MULTI/EXEC: every row of theirs,
    every pair their by_user index or `pairs` names (removed when it has no row),
    and their totals set from the rows (the repair's write). WATCHes the totals, so
    a live write that moved them meanwhile makes it read again. Raises RedisError."""
    users = sorted(set(user_ids))
    named = [pair for pair in pairs if pair[0] in set(users)]
    watched = [user_totals_key(u) for u in users] + [by_user_key(u) for u in users]

    def write(pipe: Pipeline) -> None:
        with get_redis().pipeline(transaction=False) as reader:
            for user_id in users:
                reader.zrange(by_user_key(user_id), 0, -1)
            indexed = [
                parse_member(item) for items in reader.execute() for item in items
            ]
        rows = {(row.user_id, row.campaign_id): row for row in rows_for_users(users)}
        everything = dict.fromkeys(
            [*rows, *named, *(pair for pair in indexed if pair is not None)]
        )
        if everything:
            pipe.watch(*(share_reward_key(*pair) for pair in everything))
        # Read again: a row written before the WATCH above is in this read.
        rows = {(row.user_id, row.campaign_id): row for row in rows_for_users(users)}
        pipe.multi()
        for pair in everything:
            row = rows.get(pair)
            if row is None:
                remove_reward(pipe, *pair)
            else:
                write_reward(pipe, row)
        by_user: defaultdict[int, list[RewardRow]] = defaultdict(list)
        for row in rows.values():
            by_user[row.user_id].append(row)
        for user_id in users:
            key = user_totals_key(user_id)
            pipe.delete(key)
            if totals := totals_hash(by_user[user_id]):
                pipe.hset(key, mapping=totals)  # type: ignore[arg-type]  # redis-py: Mapping key invariant

    watched_transaction(write, watched)


def sync_share_reward(user_id: int, campaign_id: int) -> bool:
    """Make Redis match PostgreSQL for one (user, campaign) pair: write the row, or
    remove it when the row is gone. False (logged and counted) if Redis failed."""
    try:
        sync_share_rewards([(user_id, campaign_id)])
    except RedisError as error:
        record_failure(f"share reward {member(user_id, campaign_id)}", error)
        return False
    return True


def sync_after_commit(reward: ShareReward) -> None:
    """Mirror the reward's pair once the current transaction commits: what every
    service that changes a reward ends with. Redis is written outside the
    transaction, and not at all if it rolls back."""
    # robust: an unexpected error in the mirror is logged by Django, never raised
    # into the request whose transaction already committed.
    transaction.on_commit(
        partial(sync_share_reward, reward.user_id, reward.campaign_id), robust=True
    )
