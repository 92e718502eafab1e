"""Compare the Redis mirror with PostgreSQL, report drift, and optionally mend it.

Two passes, both streamed in batches so memory stays flat:
- PostgreSQL → Redis: every ShareReward row (ordered by user, so each user's index
  and feed are checked whole) against its hash and index entries, and every scored
  X connection against `user_multipliers`.
- Redis → PostgreSQL: SCAN the hashes, indexes, feeds and multipliers for entries
  whose row (or score) no longer exists, on every primary of a cluster.

Each user's totals hash is compared with the sums of their rows. What is left of the
previous (user, campaign) layout (hashes, index members and feed entries of a pair,
built markers) is counted as drift of its own kind.

Repair rewrites the users of the drifted rewards (of drifted totals, and of
previous-layout leftovers) whole through `sync_user_rewards`, which re-reads their
rows under WATCH, removes the previous layout's keys and sets their totals from
those rows in the same MULTI/EXEC: a reward changed since the check read it is
written as it is now, never as the check saw it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from blockster.redis_client import get_mirror_redis
from campaigns.models import ShareReward
from social.models import XConnection

from .built import mark_built, previous_marker_key
from .multipliers import sync_user_multipliers, x_scores_for_users
from .scan import iter_reward_batches, scan_keys, stray_hashes
from .schema import (
    FEED_STATUSES,
    X_SHARE_ENTRY_PREFIX,
    RewardRef,
    RewardRow,
    activity_feed_key,
    by_campaign_key,
    by_user_key,
    feed_entry,
    feed_entry_tweet,
    key_pattern,
    member,
    parse_member,
    parse_previous_member,
    previous_feed_entry_campaign,
    previous_member,
    reward_hash,
    reward_ref,
    share_reward_key,
    strip_prefix,
    tagged_id,
    totals_hash,
    user_multipliers_key,
    user_totals_key,
)
from .topology import run_ids, slot_ranges
from .write import DEFAULT_BATCH_SIZE, existing_refs, sync_user_rewards

KINDS = {
    "missing_hash": "missing hashes",
    "stale_hash": "stale hashes",
    "orphaned_hash": "orphaned hashes",
    "by_user": "by_user index drift",
    "by_campaign": "by_campaign index drift",
    "activity_feed": "activity_feed drift",
    "totals": "user_totals drift",
    "multiplier": "multiplier drift",
    "previous_layout": "previous layout leftovers",
}
EXAMPLES_PER_KIND = 3


@dataclass
class MirrorReport:
    repair: bool
    rows_checked: int = 0
    multipliers_checked: int = 0
    drift: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    repaired_rewards: int = 0
    repaired_totals: int = 0
    repaired_multipliers: int = 0
    removed_previous: int = 0

    def add(self, kind: str, example: str) -> None:
        self.drift[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < EXAMPLES_PER_KIND:
            shown.append(example)

    @property
    def drift_found(self) -> int:
        return sum(self.drift.values())

    @property
    def in_sync(self) -> bool:
        return self.drift_found == 0

    def summary(self) -> dict[str, int]:
        return {
            "rows_checked": self.rows_checked,
            "multipliers_checked": self.multipliers_checked,
            **{kind: self.drift[kind] for kind in KINDS},
            "drift": self.drift_found,
            "repaired_rewards": self.repaired_rewards,
            "repaired_totals": self.repaired_totals,
            "repaired_multipliers": self.repaired_multipliers,
            "removed_previous": self.removed_previous,
        }

    def lines(self) -> list[str]:
        lines = [
            f"Checked {self.rows_checked:,} share rewards and "
            f"{self.multipliers_checked:,} multipliers."
        ]
        for kind, label in KINDS.items():
            count = self.drift[kind]
            line = f"  {label:<28}{count:>8,}"
            if count:
                line += "   e.g. " + "; ".join(self.examples[kind])
            lines.append(line)
        if self.in_sync:
            lines.append("In sync.")
        elif self.repair:
            lines.append(
                f"Drift found: {self.drift_found:,}. Repaired "
                f"{self.repaired_rewards:,} share rewards (hash, indexes and feed "
                f"entry each), {self.repaired_totals:,} users' totals and "
                f"{self.repaired_multipliers:,} multipliers."
            )
            if self.removed_previous:
                lines.append(
                    "Removed what the previous (user, campaign) layout left: "
                    f"{self.removed_previous:,} pairs' keys and built markers."
                )
        else:
            lines.append(
                f"Drift found: {self.drift_found:,}. "
                "Run `check_mirror --repair` to mend it."
            )
        return lines


def check_mirror(
    repair: bool = False, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> MirrorReport:
    """Compare PostgreSQL with Redis; with `repair`, mend every drift found.
    Raises RedisError (or a cluster error) when Redis is unavailable."""
    checker = _Checker(MirrorReport(repair=repair), batch_size)
    began = run_ids(checker.client)
    checker.check_rows()
    checker.check_orphans()
    checker.check_multipliers()
    if repair:
        # Everything was compared and mended: the mirror is whole again.
        mark_built(checker.client, began)
    return checker.report


def _close(score: float | None, expected: float | None) -> bool:
    if score is None or expected is None:
        return score is expected
    return abs(score - expected) < 1e-3


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Checker:
    def __init__(self, report: MirrorReport, batch_size: int) -> None:
        self.report, self.batch_size = report, batch_size
        self.client = get_mirror_redis()
        self.drifted: set[RewardRef] = set()
        self.drifted_totals: set[int] = set()
        # (user, campaign) pairs of the previous layout found in this batch.
        self.previous: set[tuple[int, int]] = set()

    def _drift(self, kind: str, ref: RewardRef, example: str) -> None:
        self.report.add(kind, example)
        self.drifted.add(ref)

    def _previous(self, pair: tuple[int, int], example: str) -> None:
        self.report.add("previous_layout", example)
        self.previous.add(pair)

    def _mend(self) -> None:
        """Rewrite the users of this batch's drifted rewards, totals and previous
        layout's leftovers whole (when repairing): their rewards, their totals
        from their rows, and the previous layout's keys removed."""
        if self.report.repair and (
            self.drifted or self.drifted_totals or self.previous
        ):
            users = sorted(
                {ref.user_id for ref in self.drifted}
                | self.drifted_totals
                | {user for user, _ in self.previous}
            )
            for chunk in _chunks(users, max(1, self.batch_size // 50)):
                sync_user_rewards(chunk, self.drifted, self.previous)
            self.report.repaired_rewards += len(self.drifted)
            self.report.repaired_totals += len(self.drifted_totals)
            self.report.removed_previous += len(self.previous)
        self.drifted.clear()
        self.drifted_totals.clear()
        self.previous.clear()

    # --- PostgreSQL → Redis ---------------------------------------------------------

    def check_rows(self) -> None:
        # Ordered by user so a user's rows arrive together; the last user of a batch
        # may continue in the next one, so their whole-user checks wait for it.
        waiting: list[RewardRow] = []
        order = ("user_id", "campaign_tweet_id")
        for batch in iter_reward_batches(self.batch_size, order_by=order):
            self.report.rows_checked += len(batch)
            self._check_row_keys(batch)
            rows = waiting + batch
            last_user = rows[-1].user_id
            done = [row for row in rows if row.user_id != last_user]
            waiting = [row for row in rows if row.user_id == last_user]
            self._check_users(done)
            self._mend()
        self._check_users(waiting)
        self._mend()

    def _check_row_keys(self, rows: list[RewardRow]) -> None:
        refs = [reward_ref(row) for row in rows]
        with self.client.pipeline(transaction=False) as pipe:
            for ref in refs:
                pipe.hgetall(share_reward_key(*ref))
                pipe.zscore(by_campaign_key(ref.campaign_id), member(*ref))
            replies = pipe.execute()
        for index, (row, ref) in enumerate(zip(rows, refs, strict=True)):
            stored, campaign_score = replies[2 * index : 2 * index + 2]
            self._compare_row(row, ref, stored)
            if not _close(campaign_score, row.created_at.timestamp()):
                self._drift("by_campaign", ref, f"{member(*ref)} score")

    def _compare_row(self, row: RewardRow, ref: RewardRef, stored: dict) -> None:
        expected = reward_hash(row)
        if not stored:
            self._drift("missing_hash", ref, f"share_reward:{member(*ref)}")
        elif stored != expected:
            changed = sorted(set(stored.items()) ^ set(expected.items()))
            fields = ", ".join(dict.fromkeys(name for name, _ in changed))
            self._drift("stale_hash", ref, f"share_reward:{member(*ref)} ({fields})")

    def _check_users(self, rows: list[RewardRow]) -> None:
        by_user: dict[int, list[RewardRow]] = {}
        for row in rows:
            by_user.setdefault(row.user_id, []).append(row)
        if not by_user:
            return
        with self.client.pipeline(transaction=False) as pipe:
            for user_id in by_user:
                pipe.zrange(by_user_key(user_id), 0, -1, withscores=True)
                pipe.zrange(activity_feed_key(user_id), 0, -1, withscores=True)
                pipe.hgetall(user_totals_key(user_id))
            replies = pipe.execute()
        for index, (user_id, user_rows) in enumerate(by_user.items()):
            index_items, feed_items, totals = replies[3 * index : 3 * index + 3]
            self._compare_by_user(user_id, user_rows, dict(index_items))
            self._compare_feed(user_id, user_rows, dict(feed_items))
            self._compare_totals(user_id, totals_hash(user_rows), totals)

    def _compare_totals(
        self, user_id: int, expected: dict[str, str], actual: dict[str, str]
    ) -> None:
        if actual != expected:
            changed = sorted(set(actual.items()) ^ set(expected.items()))
            fields = ", ".join(dict.fromkeys(name for name, _ in changed))
            self.report.add("totals", f"user_totals:{user_id} ({fields})")
            self.drifted_totals.add(user_id)

    def _compare_by_user(
        self, user_id: int, rows: list[RewardRow], actual: dict[str, float]
    ) -> None:
        expected = {
            member(*reward_ref(row)): row.created_at.timestamp() for row in rows
        }
        for item in expected.keys() | actual.keys():
            if not _close(actual.get(item), expected.get(item)):
                self._by_user_drift(user_id, item, f"by_user:{user_id} {item}")

    def _by_user_drift(self, user_id: int, item: str, example: str) -> None:
        if (ref := parse_member(item)) is not None:
            self._drift("by_user", ref, example)
        elif (pair := parse_previous_member(item)) is not None:
            self._previous(pair, example)

    def _compare_feed(
        self, user_id: int, rows: list[RewardRow], actual: dict[str, float]
    ) -> None:
        expected = {
            feed_entry(row): row.rewarded_at.timestamp()
            for row in rows
            if row.status in FEED_STATUSES and row.rewarded_at is not None
        }
        shares = {k: v for k, v in actual.items() if k.startswith(X_SHARE_ENTRY_PREFIX)}
        for entry in expected.keys() | shares.keys():
            if not _close(shares.get(entry), expected.get(entry)):
                self._feed_drift(user_id, entry)

    def _feed_drift(self, user_id: int, entry: str) -> None:
        if (tweet := feed_entry_tweet(entry)) is not None:
            example = f"activity_feed:{user_id} x_share:{tweet[0]}:{tweet[1]}"
            self._drift("activity_feed", RewardRef(user_id, *tweet), example)
            return
        if (campaign := previous_feed_entry_campaign(entry)) is not None:
            example = f"activity_feed:{user_id} x_share:{campaign}"
            self._previous((user_id, campaign), example)
            return
        # An entry whose reward cannot be read cannot be re-synced: remove it as is.
        self.report.add("activity_feed", f"activity_feed:{user_id} unreadable entry")
        if self.report.repair:
            self.client.zrem(activity_feed_key(user_id), entry)
            self.report.repaired_rewards += 1

    # --- Redis → PostgreSQL ---------------------------------------------------------

    def check_orphans(self) -> None:
        for found in stray_hashes(batch_size=self.batch_size):
            for ref in found.orphans:
                self._drift("orphaned_hash", ref, f"share_reward:{member(*ref)}")
            for pair in found.previous:
                self._previous(pair, f"share_reward:{previous_member(*pair)}")
            self._mend()
        pattern = key_pattern("share_rewards", "by_campaign", "{campaign:*")
        for keys in scan_keys(self.client, pattern, count=self.batch_size):
            for key in keys:
                items = (item for item, _ in self.client.zscan_iter(key, count=1000))
                campaign = tagged_id(key, "campaign")
                self._check_members("by_campaign", items, campaign)
        self._check_users_without_rows()
        self._check_previous_markers()

    def _check_members(
        self, kind: str, items: Iterator[str], campaign: int | None = None
    ) -> None:
        """Index members whose reward has no row (or sit under the wrong
        campaign), and members of the previous layout."""
        chunk: list[str] = []
        for item in items:
            chunk.append(item)
            if len(chunk) == self.batch_size:
                self._check_member_chunk(kind, chunk, campaign)
                chunk = []
        self._check_member_chunk(kind, chunk, campaign)

    def _check_member_chunk(
        self, kind: str, items: list[str], campaign: int | None
    ) -> None:
        refs = {item: parse_member(item) for item in items}
        valid = [ref for ref in refs.values() if ref is not None]
        existing = existing_refs(valid) if valid else set()
        for item, ref in refs.items():
            if ref is None:
                if (pair := parse_previous_member(item)) is not None:
                    self._previous(pair, f"{kind}:{pair[1]} {item}")
                else:
                    self.report.add(kind, f"unreadable member {item!r}")
                continue
            misplaced = campaign is not None and ref.campaign_id != campaign
            if ref not in existing or misplaced:
                self._drift(kind, ref, f"{item} has no row" if not misplaced else item)
            if misplaced and campaign is not None and self.report.repair:
                # Rewriting the reward writes its own campaign's index, not this one.
                self.client.zrem(by_campaign_key(campaign), item)
        self._mend()

    def _check_users_without_rows(self) -> None:
        """by_user indexes and feeds of users who have no rows at all (users with rows
        had theirs compared whole in the row pass)."""
        patterns = {
            "by_user": key_pattern("share_rewards", "by_user", "{user:*"),
            "activity_feed": key_pattern("activity_feed", "{user:*"),
            "totals": key_pattern("user_totals", "{user:*"),
        }
        for kind, pattern in patterns.items():
            for keys in scan_keys(self.client, pattern, count=self.batch_size):
                users = {
                    user: key
                    for key in keys
                    if (user := tagged_id(key, "user")) is not None
                }
                with_rows = set(
                    ShareReward.objects.filter(user_id__in=list(users))
                    .values_list("user_id", flat=True)
                    .distinct()
                )
                for user_id, key in users.items():
                    if user_id not in with_rows:
                        self._check_rowless_user(kind, user_id, key)
                self._mend()

    def _check_rowless_user(self, kind: str, user_id: int, key: str) -> None:
        if kind == "totals":
            stored = cast("dict[str, str]", self.client.hgetall(key))
            self._compare_totals(user_id, {}, stored)
            return
        items = (item for item, _ in self.client.zscan_iter(key, count=1000))
        for item in items:
            if kind == "by_user":
                example = f"by_user:{user_id} {item} has no row"
                self._by_user_drift(user_id, item, example)
            elif item.startswith(X_SHARE_ENTRY_PREFIX):
                self._feed_drift(user_id, item)

    def _check_previous_markers(self) -> None:
        """The previous layout's built markers, one per slot range (today's are
        named for the per-tweet layout): nothing reads them; the repair deletes
        them. Looked up by name rather than by a SCAN of every key."""
        keys = [previous_marker_key(slots) for slots in slot_ranges(self.client)]
        # One key a command: on a cluster the markers are on every primary.
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            found = [key for key, n in zip(keys, pipe.execute(), strict=True) if n]
        for key in found:
            self.report.add("previous_layout", strip_prefix(key))
        if self.report.repair and found:
            with self.client.pipeline(transaction=False) as pipe:
                for key in found:
                    pipe.delete(key)
                self.report.removed_previous += sum(pipe.execute())

    # --- Multipliers ----------------------------------------------------------------

    def check_multipliers(self) -> None:
        scored = (
            XConnection.objects.filter(x_score__isnull=False)
            .order_by("user_id")
            .values_list("user_id", "x_score")
            .iterator(chunk_size=self.batch_size)
        )
        batch: list[tuple[int, int]] = []
        for user_id, score in scored:
            if score is None:
                continue  # never: the query leaves unscored users out
            batch.append((user_id, score))
            if len(batch) == self.batch_size:
                self._check_scores(batch)
                batch = []
        self._check_scores(batch)
        pattern = key_pattern("user_multipliers", "{user:*")
        for keys in scan_keys(self.client, pattern, count=self.batch_size):
            self._check_unscored(keys)

    def _check_scores(self, batch: list[tuple[int, int]]) -> None:
        self.report.multipliers_checked += len(batch)
        with self.client.pipeline(transaction=False) as pipe:
            for user_id, _ in batch:
                pipe.hget(user_multipliers_key(user_id), "x_multiplier")
            stored = pipe.execute()
        drifted = [
            user_id
            for (user_id, score), value in zip(batch, stored, strict=True)
            if value != str(score)
        ]
        for user_id in drifted:
            self.report.add("multiplier", f"user_multipliers:{user_id}")
        self._mend_multipliers(drifted)

    def _check_unscored(self, keys: list[str]) -> None:
        """x_multiplier fields of users who have no scored X connection."""
        users = [u for key in keys if (u := tagged_id(key, "user")) is not None]
        with self.client.pipeline(transaction=False) as pipe:
            for user_id in users:
                pipe.hexists(user_multipliers_key(user_id), "x_multiplier")
            present = pipe.execute()
        candidates = [u for u, has in zip(users, present, strict=True) if has]
        scored = x_scores_for_users(candidates) if candidates else {}
        orphans = [user_id for user_id in candidates if user_id not in scored]
        for user_id in orphans:
            self.report.add("multiplier", f"user_multipliers:{user_id} has no score")
        self._mend_multipliers(orphans)

    def _mend_multipliers(self, user_ids: list[int]) -> None:
        if self.report.repair and user_ids:
            sync_user_multipliers(user_ids)
            self.report.repaired_multipliers += len(user_ids)
