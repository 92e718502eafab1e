"""Reading the activity feed and the totals from Redis alone (the member page's fast
path), on a replica when one is configured (MIRROR_REDIS_REPLICA_URL)."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from blockster.redis_client import MirrorClient, get_mirror_reader

from .built import ensure_built
from .schema import (
    X_SHARE,
    X_SHARE_LABEL,
    FeedEntry,
    ShareActivity,
    activity_feed_key,
    decode_feed_entry,
    decode_totals,
    user_totals_key,
)


def read_user_totals(user_id: int) -> dict[str, Decimal]:
    """The user's BUX by reward status, from their totals hash. Raises RedisError,
    and MirrorNotBuilt while the mirror has not been rebuilt since Redis lost it."""
    client = get_mirror_reader()
    ensure_built(client, user_id)
    stored = cast("dict[str, str]", client.hgetall(user_totals_key(user_id)))
    return decode_totals(stored)


def _newest(
    client: MirrorClient, user_id: int, start: int, stop: int
) -> list[tuple[str, float]]:
    """Feed items `start` to `stop - 1`, newest first, with their scores."""
    # decode_responses with withscores: (str, float) pairs, which the stub cannot
    # tell from the call.
    return cast(
        "list[tuple[str, float]]",
        client.zrevrange(activity_feed_key(user_id), start, stop - 1, withscores=True),
    )


def list_user_share_rewards(
    user_id: int, *, offset: int = 0, limit: int = 20
) -> list[ShareActivity]:
    """The user's rewarded X shares, newest first, from Redis alone.

    The feed may also hold entries of other kinds, so it is read in chunks until
    `offset + limit` X shares have been seen. Raises MirrorNotBuilt while the mirror
    has not been rebuilt since Redis lost it.
    """
    wanted = offset + limit
    shares: list[ShareActivity] = []
    start, chunk = 0, max(wanted, 50)
    client = get_mirror_reader()
    ensure_built(client, user_id)
    while len(shares) < wanted:
        items = _newest(client, user_id, start, start + chunk)
        for raw, score in items:
            entry = decode_feed_entry(raw, score)
            if entry is None or entry["type"] != X_SHARE:
                continue
            shares.append(
                {
                    "type": X_SHARE,
                    "label": entry["label"] or X_SHARE_LABEL,
                    "amount": entry["amount"],
                    "retweet_id": entry["retweet_id"],
                    "tx_hash": entry["tx_hash"],
                    "timestamp": entry["timestamp"],
                }
            )
        if len(items) < chunk:
            break
        start += chunk
    return shares[offset:wanted]


class UserActivity:
    """A user's activity feed, newest first, read from Redis alone.

    Sliceable with a `count()`, so Django's Paginator pages through it. With
    `as_of` (Unix seconds), only the entries of then: later ones do not push the
    pages along. Raises RedisError when Redis is unavailable, and MirrorNotBuilt
    (one, after queueing the rebuild) while the mirror has not been rebuilt since
    Redis lost it.
    """

    def __init__(self, user_id: int, *, as_of: int | None = None) -> None:
        self.user_id = user_id
        self.as_of = as_of
        self.client = get_mirror_reader()

    def count(self) -> int:
        ensure_built(self.client, self.user_id)
        key = activity_feed_key(self.user_id)
        if self.as_of is None:
            return int(self.client.zcard(key))
        return int(self.client.zcount(key, "-inf", self.as_of))

    def __getitem__(self, window: slice) -> list[FeedEntry]:
        start, stop = window.start or 0, window.stop
        if stop is None or stop <= start:
            return []
        if self.as_of is None:
            items = _newest(self.client, self.user_id, start, stop)
        else:
            items = cast(
                "list[tuple[str, float]]",
                self.client.zrevrangebyscore(
                    activity_feed_key(self.user_id),
                    self.as_of,
                    "-inf",
                    start=start,
                    num=stop - start,
                    withscores=True,
                ),
            )
        return [
            entry
            for raw, score in items
            if (entry := decode_feed_entry(raw, score)) is not None
        ]
