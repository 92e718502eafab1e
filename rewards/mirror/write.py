"""The live write path: after a PostgreSQL commit, make Redis hold exactly what the
rows of some (user, campaign) pairs are now (or nothing, for a row that is gone).

A pair's hash, its `by_user` entry, its feed entry and the move of its BUX in the
user's totals share the user's slot and are written together in one MULTI/EXEC,
under WATCH of the hash: a sync that read an older row than another writer mirrored
meanwhile reads again. The `by_campaign` entry is in the campaign's slot: on a
single server it joins the same MULTI/EXEC, on a cluster it follows in its own
command (topology.py), and the repair mends it if that one failed. A Redis failure
is logged and counted, never raised to the user; `check_mirror --repair` mends what
it left.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from redis.exceptions import RedisError, WatchError

from blockster.redis_client import REDIS_ERRORS, MirrorClient, get_mirror_redis
from campaigns.models import ShareReward

from .schema import (
    FEED_STATUSES,
    ROW_LOOKUPS,
    RewardRow,
    activity_feed_key,
    bux_units,
    by_campaign_key,
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
from .topology import Pipe, group_by_unit, unit_of

if TYPE_CHECKING:
    from django.db.models import QuerySet

logger = logging.getLogger(__name__)

# Rows (or users) per PostgreSQL fetch and Redis pipeline in the bulk passes.
DEFAULT_BATCH_SIZE = 5000
# Optimistic-lock retries before a sync gives up and leaves the pair to the repair.
WATCH_RETRIES = 5

# Process-wide count of mirror writes that failed (exposed for monitoring and tests).
write_failures = 0

T = TypeVar("T")


def record_failure(what: str, error: Exception) -> None:
    global write_failures
    write_failures += 1
    logger.warning(
        "mirror write of %s failed (%s); check_mirror --repair mends it", what, error
    )


def watched_transaction(
    client: MirrorClient, write: Callable[[Pipe], T], keys: list[str]
) -> T:
    """Run `write` (which reads PostgreSQL, then queues commands after pipe.multi())
    under WATCH on `keys`, all of one unit: if another writer changes one of them in
    between, the read may be older than what that writer mirrored, so it is re-read
    and retried. Returns what `write` returned. Raises RedisError."""
    with client.pipeline(transaction=True) as pipe:
        for _ in range(WATCH_RETRIES):
            try:
                pipe.watch(*keys)
                written = write(pipe)
                pipe.execute()
                return written
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


def _run_script(pipe: Pipe, name: str, keys: list[str], args: list[Any]) -> None:
    # EVAL with the script's text (a few hundred bytes): Redis caches it by its SHA,
    # and a restarted server or a replica promoted in a failover needs nothing loaded
    # first. A registered Script would cost a SCRIPT EXISTS round trip before every
    # pipeline that runs it. execute_command: a cluster pipeline's eval() takes no
    # script.
    pipe.execute_command("EVAL", _SCRIPTS[name], len(keys), *keys, *args)


def _replace_feed_entry(
    pipe: Pipe, user_id: int, campaign_id: int, entry: str, score: float
) -> None:
    prefix = feed_entry_prefix(feed_entry_id(campaign_id))
    _run_script(
        pipe, "feed_replace", [activity_feed_key(user_id)], [prefix, entry, score]
    )


def move_totals(pipe: Pipe, user_id: int, deltas: Counter[str]) -> None:
    """Queue the move of the user's totals by `deltas` (hundredths of a BUX by
    status); nothing when every delta is zero."""
    args = [
        part for status, delta in deltas.items() if delta for part in (status, delta)
    ]
    if args:
        _run_script(pipe, "totals_move", [user_totals_key(user_id)], args)


def _stored_amounts(
    client: MirrorClient, keys: list[str]
) -> list[tuple[str | None, str | None]]:
    """The status and amount each hash holds now (read after WATCH, on another
    connection: a change after the read still fails the EXEC)."""
    with client.pipeline(transaction=False) as reader:
        for key in keys:
            reader.hmget(key, ["status", "bux_rewarded"])
        return [(status, amount) for status, amount in reader.execute()]


def write_reward(pipe: Pipe, reward: ShareReward | RewardRow) -> None:
    """Queue on `pipe` the commands that make the user's slot hold exactly this row
    (its hash, `by_user` entry and feed entry; `index_campaign` does the rest)."""
    key = share_reward_key(reward.user_id, reward.campaign_id)
    item = member(reward.user_id, reward.campaign_id)
    pipe.delete(key)
    pipe.hset(key, mapping=reward_hash(reward))  # type: ignore[arg-type]  # redis-py: Mapping key invariant
    pipe.zadd(by_user_key(reward.user_id), {item: reward.created_at.timestamp()})
    if reward.status in FEED_STATUSES and reward.rewarded_at is not None:
        entry, rewarded = feed_entry(reward), reward.rewarded_at.timestamp()
    else:
        entry, rewarded = "", 0
    _replace_feed_entry(pipe, reward.user_id, reward.campaign_id, entry, rewarded)


def remove_reward(pipe: Pipe, user_id: int, campaign_id: int) -> None:
    """Queue the removal of a pair's hash, `by_user` entry and feed entry."""
    pipe.delete(share_reward_key(user_id, campaign_id))
    pipe.zrem(by_user_key(user_id), member(user_id, campaign_id))
    _replace_feed_entry(pipe, user_id, campaign_id, "", 0)


def index_campaign(
    pipe: Pipe, pair: tuple[int, int], row: ShareReward | RewardRow | None
) -> None:
    """Queue the pair's `by_campaign` entry (in the campaign's slot): added with its
    creation time, or removed when the row is gone."""
    key, item = by_campaign_key(pair[1]), member(*pair)
    if row is None:
        pipe.zrem(key, item)
    else:
        pipe.zadd(key, {item: row.created_at.timestamp()})


def sync_share_rewards(pairs: Collection[tuple[int, int]]) -> None:
    """Make Redis match PostgreSQL for these (user, campaign) pairs: each row is
    written, or removed when it is gone, and each user's totals move by what their
    pairs' hashes held before and hold now. One WATCHed MULTI/EXEC per unit (the
    whole batch on a single server, each user slot on a cluster), then, on a
    cluster, the campaign entries in one pipeline. Raises RedisError (or a cluster
    error)."""
    client = get_mirror_redis()
    pairs = list(dict.fromkeys(pairs))
    elsewhere: list[tuple[tuple[int, int], RewardRow | None]] = []
    for unit, unit_pairs in group_by_unit(
        client, pairs, lambda pair: share_reward_key(*pair)
    ).items():
        elsewhere += _sync_unit(client, unit, unit_pairs)
    _index_elsewhere(client, elsewhere)


def _index_elsewhere(
    client: MirrorClient, elsewhere: list[tuple[tuple[int, int], RewardRow | None]]
) -> None:
    """The campaign entries that live in other units than their users' (a
    cluster's campaign slots), in one pipeline after the users' transactions."""
    if elsewhere:
        with client.pipeline(transaction=False) as pipe:
            for pair, row in elsewhere:
                index_campaign(pipe, pair, row)
            pipe.execute()


def _sync_unit(
    client: MirrorClient, unit: int, pairs: list[tuple[int, int]]
) -> list[tuple[tuple[int, int], RewardRow | None]]:
    """One unit's WATCHed write, the users' totals moved by what their pairs' hashes
    held before and hold now; returns the campaign entries of other units."""
    keys = [share_reward_key(*pair) for pair in pairs]

    def write(pipe: Pipe) -> list[tuple[tuple[int, int], RewardRow | None]]:
        stored = _stored_amounts(client, keys)
        rows = rows_for_pairs(pairs)
        deltas: defaultdict[int, Counter[str]] = defaultdict(Counter)
        pipe.multi()
        elsewhere = []
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
            if unit_of(client, by_campaign_key(pair[1])) == unit:
                index_campaign(pipe, pair, row)
            else:
                elsewhere.append((pair, row))
        for user_id, user_deltas in deltas.items():
            move_totals(pipe, user_id, user_deltas)
        return elsewhere

    return watched_transaction(client, write, keys)


def sync_user_rewards(
    user_ids: Collection[int], pairs: Iterable[tuple[int, int]] = ()
) -> None:
    """Rewrite these users' mirror whole: every row of theirs, every pair their
    by_user index or `pairs` names (removed when it has no row), and their totals set
    from the rows (the repair's write). One MULTI/EXEC per unit (all the users on a
    single server, each user slot on a cluster), then the campaign entries of other
    units, as sync_share_rewards. WATCHes the totals, so a live write that moved them
    meanwhile makes it read again. Raises RedisError (or a cluster error)."""
    client = get_mirror_redis()
    users = sorted(set(user_ids))
    named = [pair for pair in pairs if pair[0] in set(users)]
    elsewhere: list[tuple[tuple[int, int], RewardRow | None]] = []
    for unit, unit_users in group_by_unit(
        client, users, lambda user: user_totals_key(user)
    ).items():
        mine = set(unit_users)
        unit_pairs = [pair for pair in named if pair[0] in mine]
        elsewhere += _sync_users(client, unit, unit_users, unit_pairs)
    _index_elsewhere(client, elsewhere)


def _sync_users(
    client: MirrorClient,
    unit: int,
    users: list[int],
    named: list[tuple[int, int]],
) -> list[tuple[tuple[int, int], RewardRow | None]]:
    """One unit's users rewritten whole; returns the campaign entries of other
    units."""
    watched = [user_totals_key(u) for u in users] + [by_user_key(u) for u in users]

    def write(pipe: Pipe) -> list[tuple[tuple[int, int], RewardRow | None]]:
        with client.pipeline(transaction=False) as reader:
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
        elsewhere = []
        for pair in everything:
            row = rows.get(pair)
            if row is None:
                remove_reward(pipe, *pair)
            else:
                write_reward(pipe, row)
            if unit_of(client, by_campaign_key(pair[1])) == unit:
                index_campaign(pipe, pair, row)
            else:
                elsewhere.append((pair, row))
        by_user: defaultdict[int, list[RewardRow]] = defaultdict(list)
        for row in rows.values():
            by_user[row.user_id].append(row)
        for user_id in users:
            key = user_totals_key(user_id)
            pipe.delete(key)
            if totals := totals_hash(by_user[user_id]):
                pipe.hset(key, mapping=totals)  # type: ignore[arg-type]  # redis-py: Mapping key invariant
        return elsewhere

    return watched_transaction(client, write, watched)


def sync_share_reward(user_id: int, campaign_id: int) -> bool:
    """Make Redis match PostgreSQL for one (user, campaign) pair: write the row, or
    remove it when the row is gone. False (logged and counted) if Redis failed."""
    try:
        sync_share_rewards([(user_id, campaign_id)])
    except REDIS_ERRORS as error:
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
