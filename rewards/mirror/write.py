"""The live write path: after a PostgreSQL commit, make Redis hold exactly what some
rewards' rows are now (or nothing, for a row that is gone). A reward is a reader's
share of one campaign tweet (schema.RewardRef: user, campaign, campaign tweet).

A reward's hash, its `by_user` entry, its feed entry and the move of its BUX in the
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
    RewardRef,
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
    parse_previous_member,
    previous_feed_entry_id,
    previous_member,
    previous_share_reward_key,
    reward_hash,
    reward_ref,
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
# Optimistic-lock retries before a sync gives up and leaves the reward to the repair.
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


def _refs_sql(column: str = "id") -> str:
    # Only the model's own table name is interpolated; the rewards are parameters.
    # unnest() keeps this one query with three array parameters however many.
    return (
        f"SELECT {column} FROM {ShareReward._meta.db_table} "  # noqa: S608
        "WHERE (user_id, campaign_id, campaign_tweet_id) IN "
        "(SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]))"
    )


def _split(refs: Collection[RewardRef]) -> tuple[list[int], list[int], list[int]]:
    return (
        [ref.user_id for ref in refs],
        [ref.campaign_id for ref in refs],
        [ref.campaign_tweet_id for ref in refs],
    )


def rows_for_refs(refs: Collection[RewardRef]) -> dict[RewardRef, RewardRow]:
    """The current rows of these rewards, in one query."""
    matching = RawSQL(_refs_sql(), _split(refs))  # noqa: S611
    rows = (RewardRow._make(row) for row in reward_rows().filter(id__in=matching))
    return {reward_ref(row): row for row in rows}


def existing_refs(refs: Collection[RewardRef]) -> set[RewardRef]:
    """Which of these rewards have a row, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            _refs_sql("user_id, campaign_id, campaign_tweet_id"), _split(refs)
        )
        return {RewardRef(*ids) for ids in cursor.fetchall()}


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
    pipe: Pipe, user_id: int, entry_id: str, entry: str, score: float
) -> None:
    prefix = feed_entry_prefix(entry_id)
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
    ref = reward_ref(reward)
    key = share_reward_key(*ref)
    pipe.delete(key)
    pipe.hset(key, mapping=reward_hash(reward))  # type: ignore[arg-type]  # redis-py: Mapping key invariant
    pipe.zadd(by_user_key(ref.user_id), {member(*ref): reward.created_at.timestamp()})
    if reward.status in FEED_STATUSES and reward.rewarded_at is not None:
        entry, rewarded = feed_entry(reward), reward.rewarded_at.timestamp()
    else:
        entry, rewarded = "", 0
    entry_id = feed_entry_id(ref.campaign_id, ref.campaign_tweet_id)
    _replace_feed_entry(pipe, ref.user_id, entry_id, entry, rewarded)


def remove_reward(pipe: Pipe, ref: RewardRef) -> None:
    """Queue the removal of a reward's hash, `by_user` entry and feed entry."""
    pipe.delete(share_reward_key(*ref))
    pipe.zrem(by_user_key(ref.user_id), member(*ref))
    entry_id = feed_entry_id(ref.campaign_id, ref.campaign_tweet_id)
    _replace_feed_entry(pipe, ref.user_id, entry_id, "", 0)


def remove_previous(pipe: Pipe, pair: tuple[int, int]) -> None:
    """Queue the removal of what the previous layout kept for a (user, campaign)
    pair in the user's slot: its hash, `by_user` entry and feed entry."""
    user_id, campaign_id = pair
    pipe.delete(previous_share_reward_key(user_id, campaign_id))
    pipe.zrem(by_user_key(user_id), previous_member(user_id, campaign_id))
    entry_id = previous_feed_entry_id(campaign_id)
    _replace_feed_entry(pipe, user_id, entry_id, "", 0)


# A `by_campaign` write: the key, the member, its score (None: remove it).
CampaignEntry = tuple[str, str, float | None]


def campaign_entry(
    ref: RewardRef, row: ShareReward | RewardRow | None
) -> CampaignEntry:
    """A reward's `by_campaign` entry: added with its creation time, or removed when
    the row is gone."""
    score = row.created_at.timestamp() if row is not None else None
    return by_campaign_key(ref.campaign_id), member(*ref), score


def previous_campaign_entry(pair: tuple[int, int]) -> CampaignEntry:
    """The removal of a previous layout's `by_campaign` member."""
    return by_campaign_key(pair[1]), previous_member(*pair), None


def index_campaign(pipe: Pipe, entry: CampaignEntry) -> None:
    """Queue a `by_campaign` write (in the campaign's slot)."""
    key, item, score = entry
    if score is None:
        pipe.zrem(key, item)
    else:
        pipe.zadd(key, {item: score})


def _index_here(
    client: MirrorClient, unit: int, pipe: Pipe, entry: CampaignEntry
) -> list[CampaignEntry]:
    """Queue `entry` on this unit's transaction if its key is in the unit; else
    return it, for `_index_elsewhere`."""
    if unit_of(client, entry[0]) == unit:
        index_campaign(pipe, entry)
        return []
    return [entry]


def sync_share_rewards(refs: Collection[RewardRef]) -> None:
    """Make Redis match PostgreSQL for these rewards: each row is written, or
    removed when it is gone, and each user's totals move by what their rewards'
    hashes held before and hold now. One WATCHed MULTI/EXEC per unit (the whole
    batch on a single server, each user slot on a cluster), then, on a cluster, the
    campaign entries in one pipeline. Raises RedisError (or a cluster error)."""
    client = get_mirror_redis()
    refs = [RewardRef(*ref) for ref in dict.fromkeys(refs)]
    elsewhere: list[CampaignEntry] = []
    for unit, unit_refs in group_by_unit(
        client, refs, lambda ref: share_reward_key(*ref)
    ).items():
        elsewhere += _sync_unit(client, unit, unit_refs)
    _index_elsewhere(client, elsewhere)


def _index_elsewhere(client: MirrorClient, elsewhere: list[CampaignEntry]) -> None:
    """The campaign entries that live in other units than their users' (a
    cluster's campaign slots), in one pipeline after the users' transactions."""
    if elsewhere:
        with client.pipeline(transaction=False) as pipe:
            for entry in elsewhere:
                index_campaign(pipe, entry)
            pipe.execute()


def _sync_unit(
    client: MirrorClient, unit: int, refs: list[RewardRef]
) -> list[CampaignEntry]:
    """One unit's WATCHed write, the users' totals moved by what their rewards'
    hashes held before and hold now; returns the campaign entries of other units."""
    keys = [share_reward_key(*ref) for ref in refs]

    def write(pipe: Pipe) -> list[CampaignEntry]:
        stored = _stored_amounts(client, keys)
        rows = rows_for_refs(refs)
        deltas: defaultdict[int, Counter[str]] = defaultdict(Counter)
        pipe.multi()
        elsewhere = []
        for ref, (old_status, old_amount) in zip(refs, stored, strict=True):
            user_deltas = deltas[ref.user_id]
            if old_status is not None:
                user_deltas[old_status] -= bux_units(old_amount)
            row = rows.get(ref)
            if row is None:
                remove_reward(pipe, ref)
            else:
                write_reward(pipe, row)
                user_deltas[row.status] += bux_units(row.bux_rewarded)
            elsewhere += _index_here(client, unit, pipe, campaign_entry(ref, row))
        for user_id, user_deltas in deltas.items():
            move_totals(pipe, user_id, user_deltas)
        return elsewhere

    return watched_transaction(client, write, keys)


def sync_user_rewards(
    user_ids: Collection[int],
    refs: Iterable[RewardRef] = (),
    previous: Iterable[tuple[int, int]] = (),
) -> None:
    """Rewrite these users' mirror whole: every row of theirs, every reward their
    by_user index or `refs` names (removed when it has no row), and their totals
    set from the rows (the repair's write). What is left of the previous (user,
    campaign) layout goes: the pairs `previous` names and the ones their by_user
    index still holds (hash, index entries, feed entry). One MULTI/EXEC per unit
    (all the users on a single server, each user slot on a cluster), then the
    campaign entries of other units, as sync_share_rewards. WATCHes the totals, so
    a live write that moved them meanwhile makes it read again. Raises RedisError
    (or a cluster error)."""
    client = get_mirror_redis()
    users = sorted(set(user_ids))
    wanted = set(users)
    named = [RewardRef(*ref) for ref in refs if ref[0] in wanted]
    old = [pair for pair in previous if pair[0] in wanted]
    elsewhere: list[CampaignEntry] = []
    for unit, unit_users in group_by_unit(
        client, users, lambda user: user_totals_key(user)
    ).items():
        mine = set(unit_users)
        unit_refs = [ref for ref in named if ref.user_id in mine]
        unit_old = [pair for pair in old if pair[0] in mine]
        elsewhere += _sync_users(client, unit, unit_users, unit_refs, unit_old)
    _index_elsewhere(client, elsewhere)


def _sync_users(
    client: MirrorClient,
    unit: int,
    users: list[int],
    named: list[RewardRef],
    previous: list[tuple[int, int]],
) -> list[CampaignEntry]:
    """One unit's users rewritten whole; returns the campaign entries of other
    units."""
    watched = [user_totals_key(u) for u in users] + [by_user_key(u) for u in users]

    def write(pipe: Pipe) -> list[CampaignEntry]:
        with client.pipeline(transaction=False) as reader:
            for user_id in users:
                reader.zrange(by_user_key(user_id), 0, -1)
            indexed = [item for items in reader.execute() for item in items]
        rows = {reward_ref(row): row for row in rows_for_users(users)}
        everything = dict.fromkeys(
            [*rows, *named, *(ref for i in indexed if (ref := parse_member(i)))]
        )
        old = dict.fromkeys(
            [*previous, *(p for i in indexed if (p := parse_previous_member(i)))]
        )
        if everything:
            pipe.watch(*(share_reward_key(*ref) for ref in everything))
        # Read again: a row written before the WATCH above is in this read.
        rows = {reward_ref(row): row for row in rows_for_users(users)}
        pipe.multi()
        elsewhere = []
        for ref in everything:
            row = rows.get(ref)
            if row is None:
                remove_reward(pipe, ref)
            else:
                write_reward(pipe, row)
            elsewhere += _index_here(client, unit, pipe, campaign_entry(ref, row))
        for pair in old:
            remove_previous(pipe, pair)
            elsewhere += _index_here(client, unit, pipe, previous_campaign_entry(pair))
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


def sync_share_reward(user_id: int, campaign_id: int, campaign_tweet_id: int) -> bool:
    """Make Redis match PostgreSQL for one reward (a reader's share of one campaign
    tweet): write the row, or remove it when the row is gone. False (logged and
    counted) if Redis failed."""
    ref = RewardRef(user_id, campaign_id, campaign_tweet_id)
    try:
        sync_share_rewards([ref])
    except REDIS_ERRORS as error:
        record_failure(f"share reward {member(*ref)}", error)
        return False
    return True


def sync_after_commit(reward: ShareReward) -> None:
    """Mirror the reward once the current transaction commits: what every service
    that changes a reward ends with. Redis is written outside the transaction, and
    not at all if it rolls back."""
    # robust: an unexpected error in the mirror is logged by Django, never raised
    # into the request whose transaction already committed.
    transaction.on_commit(partial(sync_share_reward, *reward_ref(reward)), robust=True)
