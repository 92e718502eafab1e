"""The Redis fast-read mirror of share rewards and multipliers.

PostgreSQL is the source of truth. Every key string is built here, under
REDIS_KEY_PREFIX. Writes happen after the PostgreSQL transaction commits, a whole row
and its index entries in one MULTI/EXEC pipeline; a Redis failure is logged and
counted, never raised to the user, and `check_mirror --repair` mends the drift.
A complete backfill or repair marks the mirror built; until then (after Redis lost
its data) readers are answered from PostgreSQL.
The key schema, write path and commands are described in docs/mirror.md.
"""

from __future__ import annotations

import heapq
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypedDict, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_delete, post_save
from redis.client import Pipeline
from redis.exceptions import RedisError, WatchError

from blockster.redis_client import get_redis

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from campaigns.models import ShareReward

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
TIME_FIELDS = ("verified_at", "rewarded_at", "created_at", "updated_at")
DEFAULT_BATCH_SIZE = 5000
# Optimistic-lock retries before a sync gives up and leaves the pair to the repair.
WATCH_RETRIES = 5

# Process-wide count of mirror writes that failed (exposed for monitoring and tests).
write_failures = 0


# --- Keys -----------------------------------------------------------------------------


def _key(*parts: object) -> str:
    return settings.REDIS_KEY_PREFIX + ":".join(str(part) for part in parts)


def key_pattern(*parts: object) -> str:
    """A SCAN MATCH pattern for keys under the prefix (the prefix's own glob
    characters escaped, so a test prefix never matches another test's keys)."""
    prefix = settings.REDIS_KEY_PREFIX
    for char in "\\*?[]":
        prefix = prefix.replace(char, "\\" + char)
    return prefix + ":".join(str(part) for part in parts)


def strip_prefix(key: str) -> str:
    return key[len(settings.REDIS_KEY_PREFIX) :]


def user_multipliers_key(user_id: int) -> str:
    return _key("user_multipliers", user_id)


def share_reward_key(user_id: int | str, campaign_id: int | str) -> str:
    return _key("share_reward", user_id, campaign_id)


def by_user_key(user_id: int | str) -> str:
    return _key("share_rewards", "by_user", user_id)


def by_campaign_key(campaign_id: int | str) -> str:
    return _key("share_rewards", "by_campaign", campaign_id)


def by_status_key(status: str) -> str:
    return _key("share_rewards", "by_status", status)


def by_rewarded_at_key() -> str:
    return _key("share_rewards", "by_rewarded_at")


def activity_feed_key(user_id: int | str) -> str:
    return _key("activity_feed", user_id)


def mirror_built_key() -> str:
    """Set by a complete backfill or repair; absent while Redis has lost the mirror
    and nothing has rebuilt it."""
    return _key("mirror", "built")


def rebuild_requested_key() -> str:
    return _key("mirror", "rebuild_requested")


def post_read_reward_key(user_id: int, post_id: int) -> str:
    return _key("post_read_reward", user_id, post_id)


def post_read_rewards_by_user_key(user_id: int) -> str:
    return _key("post_read_rewards", "by_user", user_id)


def member(user_id: int | str, campaign_id: int | str) -> str:
    return f"{user_id}:{campaign_id}"


def parse_member(value: str) -> tuple[int, int] | None:
    """`{user_id}:{campaign_id}` back to ints; None for anything malformed."""
    user, _, campaign = value.partition(":")
    if not (user.isdigit() and campaign.isdigit()):
        return None
    return int(user), int(campaign)


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


def x_scores_for_users(user_ids: Collection[int]) -> dict[int, int]:
    from social.models import XConnection

    rows = XConnection.objects.filter(
        user_id__in=list(user_ids), x_score__isnull=False
    ).values_list("user_id", "x_score")
    return {user_id: score for user_id, score in rows if score is not None}


def sync_user_multipliers(user_ids: Collection[int]) -> None:
    """Make `x_multiplier` match PostgreSQL for these users: the score of their X
    connection, or no field when they have none. Other multiplier fields are kept.
    Raises RedisError."""
    keys = [user_multipliers_key(user_id) for user_id in user_ids]

    def write(pipe: Pipeline) -> None:
        scores = x_scores_for_users(user_ids)
        pipe.multi()
        for user_id, key in zip(user_ids, keys, strict=True):
            if user_id in scores:
                pipe.hset(key, "x_multiplier", scores[user_id])
            else:
                pipe.hdel(key, "x_multiplier")

    _watched_transaction(write, keys)


def _sync_multiplier_quietly(user_id: int) -> None:
    try:
        sync_user_multipliers([user_id])
    except RedisError as error:
        _failed(f"x_multiplier of user {user_id}", error)


def restore_user_multipliers(*, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """The backfill's multiplier pass: `x_multiplier` of every user with a scored
    X connection, `batch_size` users per WATCHed write. Returns how many users.
    Raises RedisError."""
    from social.models import XConnection

    users = (
        XConnection.objects.filter(x_score__isnull=False)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .iterator(chunk_size=batch_size)
    )
    batch: list[int] = []
    restored = 0
    for user_id in users:
        batch.append(user_id)
        if len(batch) == batch_size:
            sync_user_multipliers(batch)
            restored, batch = restored + len(batch), []
    if batch:
        sync_user_multipliers(batch)
    return restored + len(batch)


# --- Built marker ---------------------------------------------------------------------

# A reader that finds the mirror not built queues a repair at most this often (beat
# runs one every 10 minutes anyway).
REBUILD_REQUEST_SECONDS = 600


class MirrorNotBuilt(RedisError):
    """Redis lost the mirror (it restarted empty, or failed over) and no backfill or
    repair has rebuilt it since: an empty or short feed may mean "not rebuilt yet",
    not "no entries". A RedisError, so readers fall back to PostgreSQL as they do
    while Redis is down."""


def redis_run_id(client: Any) -> str:
    """The Redis server's run id, new each time it starts (or fails over)."""
    return str(client.info("server")["run_id"])


def mark_built(client: Any, run_id: str) -> bool:
    """After a complete pass that began on server `run_id`: mark the mirror built,
    unless the server restarted during the pass (what it wrote before is gone)."""
    client.set(mirror_built_key(), run_id)
    if redis_run_id(client) == run_id:
        return True
    # Written to a server that is not the one the pass began on.
    client.delete(mirror_built_key())
    logger.warning("Redis restarted during the mirror pass; not marked built")
    return False


def ensure_built(client: Any) -> None:
    """Raise MirrorNotBuilt, after queueing a rebuild, unless the mirror is built."""
    if client.exists(mirror_built_key()):
        return
    request_rebuild(client)
    raise MirrorNotBuilt("the mirror has not been rebuilt since Redis lost it")


def request_rebuild(client: Any) -> bool:
    """Queue a repair pass, at most once per REBUILD_REQUEST_SECONDS across every
    process; False when one was queued already or the broker is down."""
    from .tasks import repair_mirror_task

    key = rebuild_requested_key()
    if not client.set(key, "1", nx=True, ex=REBUILD_REQUEST_SECONDS):
        return False
    try:
        repair_mirror_task.delay()
    except Exception as error:  # kombu raises several types for a dead broker
        client.delete(key)  # the next reader asks again
        logger.warning("mirror rebuild not queued (%s)", type(error).__name__)
        return False
    logger.info("the mirror is not built: repair queued")
    return True


# --- Share rewards: the row, its hash and its feed entry ------------------------------


class RewardLike(Protocol):
    """A ShareReward instance or a RewardRow: anything with the mirrored fields
    (read-only, so a NamedTuple row qualifies)."""

    @property
    def id(self) -> int: ...

    @property
    def user_id(self) -> int: ...

    @property
    def campaign_id(self) -> int: ...

    @property
    def x_connection_id(self) -> int | None: ...

    @property
    def retweet_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def bux_rewarded(self) -> Decimal | None: ...

    @property
    def verified_at(self) -> datetime | None: ...

    @property
    def rewarded_at(self) -> datetime | None: ...

    @property
    def failure_reason(self) -> str: ...

    @property
    def tx_hash(self) -> str | None: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def updated_at(self) -> datetime: ...


class RewardRow(NamedTuple):
    """The mirrored columns of one ShareReward, read with `values_list` so bulk
    passes skip model instantiation."""

    id: int
    user_id: int
    campaign_id: int
    x_connection_id: int | None
    retweet_id: str
    status: str
    bux_rewarded: Decimal | None
    verified_at: datetime | None
    rewarded_at: datetime | None
    failure_reason: str
    tx_hash: str | None
    created_at: datetime
    updated_at: datetime


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def reward_hash(reward: RewardLike) -> dict[str, str]:
    """The mirror's HASH for one ShareReward row (null and empty fields left out)."""
    values: dict[str, Any] = {name: getattr(reward, name) for name in HASH_FIELDS}
    for name in TIME_FIELDS:
        values[name] = _unix(values[name])
    values["failure_reason"] = values["failure_reason"] or None
    values["retweet_id"] = values["retweet_id"] or None
    return {name: str(value) for name, value in values.items() if value is not None}


def feed_entry_id(campaign_id: int | str) -> str:
    return f"x_share:{campaign_id}"


def feed_entry_prefix(entry_id: str) -> str:
    """How every feed entry for `entry_id` begins. Entries are JSON objects whose
    first key is "id", so the entries of one (user, campaign) pair can be found and
    removed without knowing their other fields (which change with the row)."""
    return '{"id":' + json.dumps(entry_id) + ","


def feed_entry(reward: RewardLike) -> str:
    """A ready-to-render activity entry; deterministic, so rewriting it is a no-op."""
    return _feed_json(
        reward.campaign_id,
        str(reward.bux_rewarded),
        reward.retweet_id,
        reward.tx_hash,
        _unix(reward.rewarded_at),
    )


def _feed_json(
    campaign_id: int,
    amount: str,
    retweet_id: str | None,
    tx_hash: str | None,
    rewarded: int | None,
) -> str:
    retweet_id = retweet_id or None
    return json.dumps(
        {
            "id": feed_entry_id(campaign_id),
            "type": "x_share",
            "label": "X Share",
            "amount": amount,
            "retweet_id": retweet_id,
            "tx_hash": tx_hash,
            "timestamp": rewarded,
            "url": f"https://x.com/i/status/{retweet_id}" if retweet_id else None,
        },
        separators=(",", ":"),
    )


# Replaces (or, with an empty entry, removes) the feed entries of one pair in one
# server-side step: the JSON of an old entry is unknown to the writer, but its prefix
# is not. Single-key, so it also runs on Redis Cluster.
_FEED_REPLACE = """
local prefix, entry = ARGV[1], ARGV[2]
local removed = 0
for _, item in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if item ~= entry and string.sub(item, 1, #prefix) == prefix then
    redis.call('ZREM', KEYS[1], item)
    removed = removed + 1
  end
end
if entry ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[3], entry)
end
return removed
"""
_feed_scripts: dict[int, Any] = {}


def _replace_feed_entry(
    pipe: Pipeline, user_id: int, campaign_id: int, entry: str, score: float
) -> None:
    # One Script object per client: it remembers its SHA and redis-py loads it into a
    # restarted server before the pipeline runs.
    client = get_redis()
    script = _feed_scripts.get(id(client))
    if script is None:
        script = _feed_scripts[id(client)] = client.register_script(_FEED_REPLACE)
    prefix = feed_entry_prefix(feed_entry_id(campaign_id))
    script(keys=[activity_feed_key(user_id)], args=[prefix, entry, score], client=pipe)


def write_reward(pipe: Pipeline, reward: RewardLike) -> None:
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


# --- Share rewards: reading PostgreSQL ------------------------------------------------


def _reward_rows() -> QuerySet[ShareReward, tuple[Any, ...]]:
    from campaigns.models import ShareReward

    return ShareReward.objects.values_list(*HASH_FIELDS)


def _pairs_sql(column: str = "id") -> str:
    from campaigns.models import ShareReward

    # Only the model's own table name is interpolated; the pairs are parameters.
    # unnest() keeps this one query with two array parameters however many pairs.
    return (
        f"SELECT {column} FROM {ShareReward._meta.db_table} "  # noqa: S608
        "WHERE (user_id, campaign_id) IN "
        "(SELECT * FROM unnest(%s::bigint[], %s::bigint[]))"
    )


def rows_for_pairs(
    pairs: Collection[tuple[int, int]],
) -> dict[tuple[int, int], RewardRow]:
    """The current rows of these (user, campaign) pairs, in one query."""
    users, campaigns = _split(pairs)
    matching = RawSQL(_pairs_sql(), (users, campaigns))  # noqa: S611
    rows = _reward_rows().filter(id__in=matching)
    return {(row[1], row[2]): RewardRow._make(row) for row in rows}


def existing_pairs(pairs: Collection[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these pairs have a row, in one query."""
    users, campaigns = _split(pairs)
    with connection.cursor() as cursor:
        cursor.execute(_pairs_sql("user_id, campaign_id"), (users, campaigns))
        return {(user, campaign) for user, campaign in cursor.fetchall()}


def _split(pairs: Collection[tuple[int, int]]) -> tuple[list[int], list[int]]:
    return [user for user, _ in pairs], [campaign for _, campaign in pairs]


def iter_reward_batches(
    batch_size: int = DEFAULT_BATCH_SIZE, *, order_by: tuple[str, ...] = ("id",)
) -> Iterator[list[RewardRow]]:
    """Every ShareReward row as RewardRow lists of `batch_size`, streamed through a
    server-side cursor: memory stays flat however many rows there are."""
    rows = _reward_rows().order_by(*order_by).iterator(chunk_size=batch_size)
    batch: list[RewardRow] = []
    for row in rows:
        batch.append(RewardRow._make(row))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- Share rewards: the write path ----------------------------------------------------


def _watched_transaction(write: Callable[[Pipeline], None], keys: list[str]) -> None:
    """Run `write` (which reads PostgreSQL, then queues commands after pipe.multi())
    under WATCH on `keys`: if another writer changes one of them in between, the read
    may be older than what that writer mirrored, so it is re-read and retried."""
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


def sync_share_rewards(pairs: Collection[tuple[int, int]]) -> None:
    """Make Redis match PostgreSQL for these (user, campaign) pairs in one MULTI/EXEC:
    each row is written, or removed when it is gone. Raises RedisError."""
    pairs = list(dict.fromkeys(pairs))
    keys = [share_reward_key(user_id, campaign_id) for user_id, campaign_id in pairs]

    def write(pipe: Pipeline) -> None:
        rows = rows_for_pairs(pairs)
        pipe.multi()
        for pair in pairs:
            row = rows.get(pair)
            if row is None:
                remove_reward(pipe, *pair)
            else:
                write_reward(pipe, row)

    _watched_transaction(write, keys)


def sync_share_reward(user_id: int, campaign_id: int) -> bool:
    """Make Redis match PostgreSQL for one (user, campaign) pair: write the row, or
    remove it when the row is gone. False (logged and counted) if Redis failed."""
    try:
        sync_share_rewards([(user_id, campaign_id)])
    except RedisError as error:
        _failed(f"share reward {member(user_id, campaign_id)}", error)
        return False
    return True


def _on_commit(func: Callable[..., Any], *args: int) -> None:
    # robust: an unexpected error in the mirror is logged by Django, never raised
    # into the request whose transaction already committed.
    transaction.on_commit(lambda: func(*args), robust=True)


def sync_share_reward_after_commit(user_id: int, campaign_id: int) -> None:
    _on_commit(sync_share_reward, user_id, campaign_id)


def _share_reward_changed(sender: type, instance: RewardLike, **kwargs: Any) -> None:
    sync_share_reward_after_commit(instance.user_id, instance.campaign_id)


def _x_connection_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    _on_commit(_sync_multiplier_quietly, instance.user_id)


# Saves that bypass the services (an admin change form, the shell) are mirrored too;
# the services' conditional UPDATEs send no signal and sync themselves. There is
# deliberately no post_delete receiver on ShareReward: one would turn the services'
# conditional `filter(status=...).delete()` into select-then-delete-by-pk, which
# could delete a row that was verified in between.
post_save.connect(
    _share_reward_changed,
    sender="campaigns.ShareReward",
    weak=False,
    dispatch_uid="mirror_share_reward_saved",
)
for _signal in (post_save, post_delete):
    _signal.connect(
        _x_connection_changed,
        sender="social.XConnection",
        weak=False,
        dispatch_uid=f"mirror_x_connection_{_signal is post_save}",
    )


def _failed(what: str, error: Exception) -> None:
    global write_failures
    write_failures += 1
    logger.warning(
        "mirror write of %s failed (%s); check_mirror --repair mends it", what, error
    )


# --- Backfill -------------------------------------------------------------------------


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

    `progress(done, total)` is called after each batch. Safe to re-run: each row's
    writes leave the same state however often they run. Rows are read as plain
    tuples (times as epoch floats, amounts as text) from a server-side cursor; while
    Redis applies one batch, the next is read from PostgreSQL (a writer thread).
    """
    from campaigns.models import ShareReward

    total = ShareReward.objects.count()
    result: SyncResult = {"total": 0, "success": 0, "errors": 0, "multipliers": 0}
    client = get_redis()
    run_id = redis_run_id(client)
    script = client.register_script(_BACKFILL)
    batches: queue.Queue[list[tuple] | None] = queue.Queue(maxsize=2)

    def writer() -> None:
        while (batch := batches.get()) is not None:
            errors = _write_backfill_batch(client, script, batch)
            result["total"] += len(batch)
            result["errors"] += errors
            result["success"] += len(batch) - errors
            if progress is not None:
                progress(result["total"], max(total, result["total"]))

    thread = threading.Thread(target=writer, name="mirror-backfill", daemon=True)
    thread.start()
    try:
        for batch in _backfill_batches(batch_size):
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


def _backfill_rows() -> QuerySet[ShareReward, tuple[Any, ...]]:
    from django.db.models import FloatField, TextField
    from django.db.models.functions import Cast, Extract

    def epoch(name: str) -> Cast:
        return Cast(Extract(name, "epoch"), FloatField())

    return _reward_rows().values_list(
        "id",
        "user_id",
        "campaign_id",
        "x_connection_id",
        "retweet_id",
        "status",
        Cast("bux_rewarded", TextField()),
        epoch("verified_at"),
        epoch("rewarded_at"),
        "failure_reason",
        "tx_hash",
        epoch("created_at"),
        epoch("updated_at"),
    )


def _backfill_batches(batch_size: int) -> Iterator[list[tuple]]:
    """The backfill's rows in `id` order, `batch_size` at a time, from one
    server-side cursor. The ORM builds the query; its per-value converters are
    skipped, since every column already comes out as the type the script needs."""
    sql, params = _backfill_rows().order_by("id").query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(batch_size):
            yield batch


# The backfill's writes for many rows in one call: the state write_reward (the live
# path) leaves, with fewer commands. Every writer changes a pair's hash, index
# entries and feed entry together (MULTI/EXEC or one script call), so the stored
# status says which sets and feed entry the pair is in: a new pair needs no
# removals, and a rewritten one only from its old status's set and feed entry.
# Index writes are grouped: one ZADD, SADD, SREM or ZREM per key with every member
# of the call, which leaves about two commands per row (HGET, HSET) plus one per
# distinct user and campaign.
# KEYS: the four by_status sets and by_rewarded_at. ARGV[1]: the key and member
# templates (see _backfill_templates); ARGV[2]: JSON [rows, feed entries], a row
# being a _backfill_rows tuple and its entry "" unless the row is rewarded. Keys
# are built from the templates, so the script is for a single Redis server (on a
# cluster the backfill would write row by row with write_reward).
_BACKFILL = """
local t = cjson.decode(ARGV[1])
local data = cjson.decode(ARGV[2])
local rows, entries = data[1], data[2]
local null = cjson.null
local statuses = {pending = 1, verified = 2, rewarded = 3, failed = 4}
local groups, order = {}, {}

local function add(key, ...)
  local group = groups[key]
  if not group then
    group = {}
    groups[key] = group
    order[#order + 1] = key
  end
  for i = 1, select('#', ...) do
    group[#group + 1] = select(i, ...)
  end
end

local function int(value)
  return string.format('%d', value)
end

local function flush(command, key, members)
  for first = 1, #members, 4000 do
    redis.call(command, key, unpack(members, first, math.min(first + 3999, #members)))
  end
end

for i, row in ipairs(rows) do
  local user, campaign = int(row[2]), int(row[3])
  local status, rewarded, entry = row[6], row[9], entries[i]
  local key = t.hash[1] .. user .. t.hash[2] .. campaign
  local item = t.member[1] .. user .. t.member[2] .. campaign
  local feed = t.feed .. user
  local old = redis.call('HGET', key, 'status')
  if old then
    redis.call('DEL', key)
  end
  local fields = {'id', int(row[1]), 'user_id', user, 'campaign_id', campaign,
    'status', status, 'created_at', int(row[12]), 'updated_at', int(row[13])}
  if row[4] ~= null then
    fields[#fields + 1] = 'x_connection_id'
    fields[#fields + 1] = int(row[4])
  end
  if row[5] ~= '' then
    fields[#fields + 1] = 'retweet_id'
    fields[#fields + 1] = row[5]
  end
  if row[7] ~= null then
    fields[#fields + 1] = 'bux_rewarded'
    fields[#fields + 1] = row[7]
  end
  if row[8] ~= null then
    fields[#fields + 1] = 'verified_at'
    fields[#fields + 1] = int(row[8])
  end
  if rewarded ~= null then
    fields[#fields + 1] = 'rewarded_at'
    fields[#fields + 1] = int(rewarded)
  end
  if row[10] ~= '' then
    fields[#fields + 1] = 'failure_reason'
    fields[#fields + 1] = row[10]
  end
  if row[11] ~= null then
    fields[#fields + 1] = 'tx_hash'
    fields[#fields + 1] = row[11]
  end
  redis.call('HSET', key, unpack(fields))
  add('ZADD ' .. t.by_user .. user, row[12], item)
  add('ZADD ' .. t.by_campaign .. campaign, row[12], item)
  if old ~= status then
    if old and statuses[old] then
      add('SREM ' .. KEYS[statuses[old]], item)
    end
    add('SADD ' .. KEYS[statuses[status]], item)
  end
  if entry ~= '' then
    add('ZADD ' .. KEYS[5], rewarded, item)
  elseif old == 'rewarded' then
    add('ZREM ' .. KEYS[5], item)
  end
  if old == 'rewarded' and (entry == '' or
      tonumber(redis.call('ZSCORE', feed, entry)) ~= rewarded) then
    -- The pair's entry changed: remove the old one, found by its prefix.
    local prefix = t.entry[1] .. campaign .. t.entry[2]
    for _, stale in ipairs(redis.call('ZRANGE', feed, 0, -1)) do
      if stale ~= entry and string.sub(stale, 1, #prefix) == prefix then
        redis.call('ZREM', feed, stale)
      end
    end
  end
  if entry ~= '' then
    add('ZADD ' .. feed, rewarded, entry)
  end
end

for _, group in ipairs(order) do
  local space = string.find(group, ' ', 1, true)
  flush(string.sub(group, 1, space - 1), string.sub(group, space + 1), groups[group])
end
return 0
"""
# Rows per script call: one call blocks Redis for a few milliseconds, so other
# clients are served between calls.
_BACKFILL_ROWS_PER_CALL = 500


def _cut(key: str, *markers: str) -> list[str]:
    """`key` split around `markers` (each found once, in order)."""
    pieces = []
    for marker in markers:
        head, found, key = key.partition(marker)
        if not found or marker in key:
            raise ValueError(f"the key layout changed: {marker!r} not in the key")
        pieces.append(head)
    return [*pieces, key]


def _backfill_templates() -> str:
    """The backfill script's key and member templates, taken from the key functions
    themselves (called with marker values), so the script writes the same keys."""
    user, campaign = "<user-id>", "<campaign-id>"
    hash_head, hash_middle, hash_tail = _cut(
        share_reward_key(user, campaign), user, campaign
    )
    item_head, item_middle, item_tail = _cut(member(user, campaign), user, campaign)
    entry_head, entry_tail = _cut(feed_entry_prefix(feed_entry_id(campaign)), campaign)
    templates = {
        "hash": [hash_head, hash_middle],
        "member": [item_head, item_middle],
        "by_user": _cut(by_user_key(user), user)[0],
        "by_campaign": _cut(by_campaign_key(campaign), campaign)[0],
        "feed": _cut(activity_feed_key(user), user)[0],
        "entry": [entry_head, entry_tail],
    }
    # Keys that end with their last argument are built by appending it.
    if any(
        (
            hash_tail,
            item_tail,
            *(
                _cut(make(user), user)[1]
                for make in (by_user_key, by_campaign_key, activity_feed_key)
            ),
        )
    ):
        raise ValueError("the key layout changed: keys must end with their ids")
    return json.dumps(templates)


def _backfill_entries(chunk: list[tuple]) -> list[str]:
    """Each row's feed entry, built by the live path's function; "" unless the
    row is rewarded."""
    entries = []
    for row in chunk:
        campaign, retweet, status, amount, rewarded, tx_hash = (
            row[2],
            row[4],
            row[5],
            row[6],
            row[8],
            row[10],
        )
        if status == "rewarded" and rewarded is not None:
            entries.append(
                _feed_json(campaign, str(amount), retweet, tx_hash, int(rewarded))
            )
        else:
            entries.append("")
    return entries


def _write_backfill_batch(client: Any, script: Any, batch: list[tuple]) -> int:
    """Write one batch in one round trip (not MULTI: every write is idempotent, and
    a re-run mends a half-applied batch); returns how many rows failed."""
    shared = [by_status_key(status) for status in STATUSES] + [by_rewarded_at_key()]
    templates = _backfill_templates()
    chunks = [
        batch[start : start + _BACKFILL_ROWS_PER_CALL]
        for start in range(0, len(batch), _BACKFILL_ROWS_PER_CALL)
    ]
    try:
        with client.pipeline(transaction=False) as pipe:
            for chunk in chunks:
                # One JSON argument per call: encoding it is one C call, where
                # thirty arguments a row cost more than Redis's own work.
                data = json.dumps([chunk, _backfill_entries(chunk)])
                script(keys=shared, args=[templates, data], client=pipe)
            replies = pipe.execute(raise_on_error=False)
    except RedisError as error:
        _failed(f"a backfill batch of {len(batch)} rows", error)
        return len(batch)
    errors = 0
    for chunk, reply in zip(chunks, replies, strict=True):
        if isinstance(reply, Exception):
            # A script stops at its first error; the whole call is counted, since
            # the rows before it cannot be told apart. A re-run writes them all.
            errors += len(chunk)
            _failed(f"a backfill call from reward {chunk[0][0]}", reply)
    return errors


def scan_keys(pattern: str, *, count: int = 1000) -> Iterator[list[str]]:
    """Keys matching `pattern`, in lists of about `count` (SCAN, never KEYS)."""
    keys: list[str] = []
    for key in get_redis().scan_iter(match=pattern, count=count):
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
    for keys in scan_keys(key_pattern("share_reward", "*"), count=batch_size):
        pairs = [
            pair
            for key in keys
            if (pair := parse_member(strip_prefix(key)[len("share_reward:") :]))
        ]
        if pairs:
            existing = existing_pairs(pairs)
            orphans = [pair for pair in pairs if pair not in existing]
            if orphans:
                yield orphans


def prune_orphaned_rewards(*, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Remove the hash, index and feed entries of pairs that have no row."""
    removed = 0
    for orphans in orphaned_hash_pairs(batch_size=batch_size):
        # Re-read under WATCH: a row created since the SCAN is written, not removed.
        sync_share_rewards(orphans)
        removed += len(orphans)
    return removed


def progress_printer(stream: Any = None) -> Progress:
    """A one-line progress bar with rate and ETA, redrawn after each batch."""
    stream = stream or sys.stderr
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate else 0
        filled = int(30 * done / total) if total else 30
        stream.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} "
            f"{rate:,.0f} rows/s ETA {eta:,.0f}s "
        )
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


# --- Reads ----------------------------------------------------------------------------


class ShareActivity(TypedDict):
    type: str
    label: str
    amount: Decimal
    retweet_id: str | None
    tx_hash: str | None
    timestamp: datetime


def _decode_entry(raw: str, score: float) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    timestamp = entry.get("timestamp") or score
    entry["timestamp"] = datetime.fromtimestamp(timestamp, UTC)
    entry["amount"] = _decimal(entry.get("amount"))
    return entry


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None


def list_user_share_rewards(
    user_id: int, *, offset: int = 0, limit: int = 20
) -> list[ShareActivity]:
    """The user's rewarded X shares, newest first, from Redis alone.

    The feed may also hold entries of other kinds, so it is read in chunks until
    `offset + limit` X shares have been seen. Raises MirrorNotBuilt while the mirror
    has not been rebuilt since Redis lost it.
    """
    key, wanted = activity_feed_key(user_id), offset + limit
    shares: list[ShareActivity] = []
    start, chunk = 0, max(wanted, 50)
    client = get_redis()
    ensure_built(client)
    while len(shares) < wanted:
        # decode_responses with withscores: (str, float) pairs, which the stub
        # cannot tell from the call.
        items = cast(
            "list[tuple[str, float]]",
            client.zrevrange(key, start, start + chunk - 1, withscores=True),
        )
        for raw, score in items:
            entry = _decode_entry(raw, score)
            if entry is None or entry.get("type") != "x_share":
                continue
            shares.append(
                {
                    "type": "x_share",
                    "label": entry.get("label") or "X Share",
                    "amount": entry["amount"],
                    "retweet_id": entry.get("retweet_id"),
                    "tx_hash": entry.get("tx_hash"),
                    "timestamp": entry["timestamp"],
                }
            )
        if len(items) < chunk:
            break
        start += chunk
    return shares[offset:wanted]


@dataclass(frozen=True)
class ActivitySource:
    """One kind of reward the member page lists: how many a user has, and the
    newest `count` of them as entries with at least type, label, amount and
    timestamp (optionally url, tx_hash)."""

    count: Callable[[Any, int], int]
    newest: Callable[[Any, int, int], list[dict[str, Any]]]


def _feed_count(client: Any, user_id: int) -> int:
    return client.zcard(activity_feed_key(user_id))


def _feed_newest(client: Any, user_id: int, count: int) -> list[dict[str, Any]]:
    items = client.zrevrange(activity_feed_key(user_id), 0, count - 1, withscores=True)
    return [e for raw, score in items if (e := _decode_entry(raw, score)) is not None]


def _post_reads_count(client: Any, user_id: int) -> int:
    return client.zcard(post_read_rewards_by_user_key(user_id))


def _post_reads_newest(client: Any, user_id: int, count: int) -> list[dict[str, Any]]:
    index = post_read_rewards_by_user_key(user_id)
    items = client.zrevrange(index, 0, count - 1, withscores=True)
    with client.pipeline(transaction=False) as pipe:
        for item, _ in items:
            post_id = item.rpartition(":")[2]
            pipe.hgetall(post_read_reward_key(user_id, post_id))
        hashes = pipe.execute()
    entries = []
    for (_, score), fields in zip(items, hashes, strict=True):
        slug = fields.get("post_slug")
        entries.append(
            {
                "type": "post_read",
                "label": "Article Read",
                "title": fields.get("post_title"),
                "amount": _decimal(fields.get("bux_rewarded", fields.get("amount"))),
                "tx_hash": fields.get("tx_hash"),
                "timestamp": datetime.fromtimestamp(score, UTC),
                "url": f"/{slug}" if slug else None,
            }
        )
    return entries


# Every reward source the mirror holds, merged by time on the member page. The
# activity feed holds the X shares; read rewards have their own keys (DESIGN).
ACTIVITY_SOURCES = (
    ActivitySource(_feed_count, _feed_newest),
    ActivitySource(_post_reads_count, _post_reads_newest),
)


class UserActivity:
    """A user's activity across every source, newest first, read from Redis alone.

    Sliceable with a `count()`, so Django's Paginator pages through it; a page at
    `offset` reads the newest `offset + limit` of each source and merges them.
    Raises RedisError when Redis is unavailable, and MirrorNotBuilt (one, after
    queueing the rebuild) while the mirror has not been rebuilt since Redis lost it.
    """

    def __init__(
        self, user_id: int, sources: Iterable[ActivitySource] = ACTIVITY_SOURCES
    ) -> None:
        self.user_id, self.sources = user_id, tuple(sources)
        self.client = get_redis()

    def count(self) -> int:
        ensure_built(self.client)
        return sum(source.count(self.client, self.user_id) for source in self.sources)

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        start, stop = window.start or 0, window.stop
        if stop is None or stop <= start:
            return []
        streams = [
            source.newest(self.client, self.user_id, stop) for source in self.sources
        ]
        merged = heapq.merge(*streams, key=lambda e: e["timestamp"], reverse=True)
        return [_with_tx_link(entry) for entry in list(merged)[start:stop]]


def _with_tx_link(entry: dict[str, Any]) -> dict[str, Any]:
    """Add the transaction's explorer link (when EXPLORER_TX_URL is set) and a
    shortened hash to show in its place or as its text."""
    tx_hash = entry.get("tx_hash")
    template = getattr(settings, "EXPLORER_TX_URL", "")
    entry["tx_url"] = template.format(tx_hash=tx_hash) if tx_hash and template else None
    short = (
        f"{tx_hash[:6]}…{tx_hash[-4:]}" if tx_hash and len(tx_hash) > 12 else tx_hash
    )
    entry["tx_short"] = short
    return entry
