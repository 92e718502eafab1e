"""The mirror's layout: every Redis key it writes, the ShareReward columns it copies,
and how a row becomes its hash and its activity-feed entry. docs/mirror.md is the
reference; nothing else builds a key or names a mirrored column."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple, TypedDict

from django.conf import settings
from django.db import models
from django.urls import reverse

from campaigns.models import MINTED_STATUSES, ShareReward

# Every state a reward can be in (the fields a user's totals may have).
STATUSES: tuple[str, ...] = tuple(ShareReward.Status.values)


class RewardRow(NamedTuple):
    """The mirrored columns of one ShareReward, in hash order: the one list of them
    (COLUMNS), then what only its feed entry shows (FEED_LOOKUPS). Read with
    `values_list` (ROW_LOOKUPS), so bulk passes skip model instantiation."""

    id: int
    user_id: int
    campaign_id: int
    campaign_tweet_id: int
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
    # Not in the hash: the feed entry's what was done, retweet link and post.
    liked: bool
    retweet_post_id: str
    post_title: str
    post_slug: str


# The hash's columns, and the lookups of the feed-only fields after them.
COLUMNS: tuple[str, ...] = RewardRow._fields[: RewardRow._fields.index("liked")]
FEED_LOOKUPS: tuple[str, ...] = (
    "liked",
    "retweet_post_id",
    "campaign__post__title",
    "campaign__post__slug",
)
ROW_LOOKUPS: tuple[str, ...] = (*COLUMNS, *FEED_LOOKUPS)

# --- Keys -----------------------------------------------------------------------------
# A key's hash tag (the part in braces) decides its Redis Cluster slot: every key of a
# user shares `{user:<id>}` (so one user's writes are one slot, one MULTI/EXEC, one
# script call), a campaign's index has `{campaign:<id>}`. A single server ignores the
# braces: the keys are the same there.


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


def user_tag(user_id: int | str) -> str:
    return f"{{user:{user_id}}}"


def campaign_tag(campaign_id: int | str) -> str:
    return f"{{campaign:{campaign_id}}}"


def tagged_id(key: str, kind: str) -> int | None:
    """The id in a key's `{kind:<id>}` tag; None when it has none."""
    head = "{" + kind + ":"
    start = key.find(head)
    if start < 0:
        return None
    value, closed, _ = key[start + len(head) :].partition("}")
    return int(value) if closed and value.isdigit() else None


def user_multipliers_key(user_id: int | str) -> str:
    return _key("user_multipliers", user_tag(user_id))


class RewardRef(NamedTuple):
    """Which mirrored reward a key, index member or feed entry is of: a reader's
    reward for one tweet of a campaign (ShareReward is unique per user and
    campaign_tweet; the campaign is always the tweet's)."""

    user_id: int
    campaign_id: int
    campaign_tweet_id: int


def reward_ref(reward: ShareReward | RewardRow) -> RewardRef:
    return RewardRef(reward.user_id, reward.campaign_id, reward.campaign_tweet_id)


def _ids(text: str, count: int) -> tuple[int, ...] | None:
    """`count` decimal ids joined by ":"; None for anything else."""
    parts = text.split(":")
    if len(parts) != count or not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def share_reward_key(
    user_id: int | str, campaign_id: int | str, campaign_tweet_id: int | str
) -> str:
    return _key("share_reward", user_tag(user_id), campaign_id, campaign_tweet_id)


def share_reward_ref(key: str) -> RewardRef | None:
    """The reward of a `share_reward` hash's key; None if malformed (or a key of
    the previous layout, `previous_share_reward_pair`)."""
    user = tagged_id(key, "user")
    ids = _ids(key.rpartition("}:")[2], 2)
    if user is None or ids is None:
        return None
    return RewardRef(user, *ids)


def by_user_key(user_id: int | str) -> str:
    return _key("share_rewards", "by_user", user_tag(user_id))


def by_campaign_key(campaign_id: int | str) -> str:
    return _key("share_rewards", "by_campaign", campaign_tag(campaign_id))


def activity_feed_key(user_id: int | str) -> str:
    return _key("activity_feed", user_tag(user_id))


def user_totals_key(user_id: int | str) -> str:
    """The user's BUX by reward status (see "Totals" below), written with the
    user's reward keys (in their slot: the user's tag)."""
    return _key("user_totals", user_tag(user_id))


def mirror_built_key(tag: str) -> str:
    """The built marker of the slot range whose first slot `tag` hashes to (see
    built.py); one key on a single server. Named for the per-tweet layout, so a
    mirror still in the previous layout counts as not built."""
    return _key("mirror", "built", "per_tweet", "{" + tag + "}")


def rebuild_requested_key() -> str:
    return _key("mirror", "rebuild_requested")


def member(
    user_id: int | str, campaign_id: int | str, campaign_tweet_id: int | str
) -> str:
    return f"{user_id}:{campaign_id}:{campaign_tweet_id}"


def parse_member(value: str) -> RewardRef | None:
    """`{user_id}:{campaign_id}:{campaign_tweet_id}` back to a RewardRef; None for
    anything malformed (or a member of the previous layout)."""
    ids = _ids(value, 3)
    return RewardRef(*ids) if ids is not None else None


# --- The previous layout --------------------------------------------------------------
# Before campaigns had several tweets, a reward was mirrored per (user, campaign):
# `share_reward:{user:<id>}:<campaign_id>`, members `<user_id>:<campaign_id>`, feed
# entries `x_share:<campaign_id>`, markers `mirror:built:{<slot tag>}`. The check
# counts what is left of them as drift and the repair removes it (docs/mirror.md,
# "Moving from the (user, campaign) layout"); these build and read them for that.


def previous_share_reward_key(user_id: int | str, campaign_id: int | str) -> str:
    return _key("share_reward", user_tag(user_id), campaign_id)


def previous_share_reward_pair(key: str) -> tuple[int, int] | None:
    """The (user, campaign) of a previous layout's `share_reward` key, else None."""
    user = tagged_id(key, "user")
    ids = _ids(key.rpartition("}:")[2], 1)
    if user is None or ids is None:
        return None
    return user, ids[0]


def previous_member(user_id: int | str, campaign_id: int | str) -> str:
    return f"{user_id}:{campaign_id}"


def parse_previous_member(value: str) -> tuple[int, int] | None:
    """The (user, campaign) of a previous layout's index member, else None."""
    ids = _ids(value, 2)
    return (ids[0], ids[1]) if ids is not None else None


def previous_mirror_built_key(tag: str) -> str:
    """The previous layout's built marker of the slot range whose first slot `tag`
    hashes to."""
    return _key("mirror", "built", "{" + tag + "}")


# --- The hash -------------------------------------------------------------------------


def unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def reward_hash(reward: ShareReward | RewardRow) -> dict[str, str]:
    """The mirror's HASH for one ShareReward row: times as Unix seconds, null and
    empty columns left out."""
    values: dict[str, str] = {}
    for name in COLUMNS:
        value = getattr(reward, name)
        if isinstance(value, datetime):
            value = unix(value)
        if value is not None and value != "":
            values[name] = str(value)
    return values


# --- Totals ---------------------------------------------------------------------------
# `user_totals:{user_id}` holds, per reward status, the sum of the user's
# `bux_rewarded` in that status, counted in hundredths of a BUX (the column's decimal
# places) so HINCRBY adds them exactly; a status whose sum is zero has no field.


def _bux_places() -> int:
    field = ShareReward._meta.get_field("bux_rewarded")
    assert isinstance(field, models.DecimalField)
    return int(field.decimal_places)


BUX_PLACES = _bux_places()


def bux_units(amount: Decimal | str | None) -> int:
    """An amount in the totals' unit (hundredths of a BUX); 0 for none."""
    if amount is None or amount == "":
        return 0
    return int(Decimal(amount).scaleb(BUX_PLACES))


def totals_hash(rows: Iterable[ShareReward | RewardRow]) -> dict[str, str]:
    """The totals hash of a user whose rows these are (all of them)."""
    sums: Counter[str] = Counter()
    for row in rows:
        sums[row.status] += bux_units(row.bux_rewarded)
    return {status: str(units) for status, units in sums.items() if units}


def decode_totals(stored: Mapping[str, str]) -> dict[str, Decimal]:
    """A stored totals hash as BUX by status (statuses without BUX left out)."""
    return {
        status: Decimal(int(units)).scaleb(-BUX_PLACES)
        for status, units in stored.items()
        if status in STATUSES and units.lstrip("-").isdigit()
    }


# --- Activity feed entries ------------------------------------------------------------

X_SHARE = "x_share"
X_SHARE_LABEL = "X Share"
RETWEETED = "Retweeted"
RETWEETED_AND_LIKED = "Retweeted & Liked"
# Paid, then taken back on X (the audit after payout): the BUX stay minted.
RETWEET_UNDONE = "Retweeted, then undone on X"
# The reward states that have a feed entry: minted shares, undone ones included.
FEED_STATUSES = MINTED_STATUSES


def x_status_url(status_id: str | None) -> str | None:
    """A post on X, in the form the project links every tweet and retweet."""
    return f"https://x.com/i/status/{status_id}" if status_id else None


class ShareActivity(TypedDict):
    """A rewarded X share as `list_user_share_rewards` returns it (the spec's map)."""

    type: str
    label: str
    amount: Decimal | None
    retweet_id: str | None
    tx_hash: str | None
    timestamp: datetime


class FeedEntry(ShareActivity):
    """An activity entry as the member page renders it, from Redis or PostgreSQL:
    the post's title and link (as they were when the entry was written), what was
    done, the tweet (`url`) and the reader's own retweet on X (`retweet_url`, once a
    confirmation found it)."""

    url: str | None
    title: str | None
    post_url: str | None
    action: str | None
    retweet_url: str | None


def feed_entry_id(campaign_id: int | str, campaign_tweet_id: int | str) -> str:
    return f"{X_SHARE}:{campaign_id}:{campaign_tweet_id}"


def previous_feed_entry_id(campaign_id: int | str) -> str:
    """An entry id of the previous (user, campaign) layout."""
    return f"{X_SHARE}:{campaign_id}"


def feed_entry_prefix(entry_id: str) -> str:
    """How every feed entry for `entry_id` begins. Entries are JSON objects whose
    first key is "id", so the entries of one reward can be found and removed without
    knowing their other fields (which change with the row). The closing quote and
    comma are part of it: `x_share:1:2` never matches `x_share:1:23`'s entries."""
    return '{"id":' + json.dumps(entry_id) + ","


# How every X-share entry begins, whatever its reward.
X_SHARE_ENTRY_PREFIX = '{"id":' + json.dumps(X_SHARE + ":").removesuffix('"')


def _entry_ids(entry: str, count: int) -> tuple[int, ...] | None:
    if not entry.startswith(X_SHARE_ENTRY_PREFIX):
        return None
    head, closed, _ = entry.removeprefix(X_SHARE_ENTRY_PREFIX).partition('",')
    return _ids(head, count) if closed else None


def feed_entry_tweet(entry: str) -> tuple[int, int] | None:
    """The (campaign, campaign tweet) of an X-share entry, read from its prefix;
    None if unreadable (or an entry of the previous layout)."""
    ids = _entry_ids(entry, 2)
    return (ids[0], ids[1]) if ids is not None else None


def previous_feed_entry_campaign(entry: str) -> int | None:
    """The campaign of a previous layout's X-share entry (`x_share:<campaign_id>`),
    else None."""
    ids = _entry_ids(entry, 1)
    return ids[0] if ids is not None else None


@lru_cache(maxsize=10_000)
def post_url(slug: str) -> str:
    """A post's page, by its slug (remembered: the backfill writes many entries of
    each post)."""
    return reverse("post_detail", args=[slug])


def encode_feed_entry(
    campaign_id: int | str,
    campaign_tweet_id: int | str,
    amount: str,
    retweet_id: str | None,
    tx_hash: str | None,
    rewarded: int | None,
    *,
    liked: bool,
    retweet_post_id: str | None,
    title: str,
    slug: str,
    undone: bool,
) -> str:
    """A rewarded share's feed entry as stored: compact JSON of a FeedEntry with `id`
    first, the amount as text and the time as Unix seconds. Deterministic, so
    rewriting an unchanged row is a no-op. The post's title and link are stored as
    they are now: a renamed post's entries differ from what the check builds, and
    the repair rewrites them (docs/mirror.md, "Activity feed entries")."""
    retweet_id = retweet_id or None
    return json.dumps(
        {
            "id": feed_entry_id(campaign_id, campaign_tweet_id),
            "type": X_SHARE,
            "label": X_SHARE_LABEL,
            "amount": amount,
            "retweet_id": retweet_id,
            "tx_hash": tx_hash,
            "timestamp": rewarded,
            "url": x_status_url(retweet_id),
            "title": title,
            "post_url": post_url(slug),
            "action": _action(liked=liked, undone=undone),
            # An undone retweet is no longer on X: nothing to link.
            "retweet_url": None if undone else x_status_url(retweet_post_id),
        },
        separators=(",", ":"),
    )


def _action(*, liked: bool, undone: bool) -> str:
    if undone:
        return RETWEET_UNDONE
    return RETWEETED_AND_LIKED if liked else RETWEETED


def feed_entry(reward: ShareReward | RewardRow) -> str:
    """The feed entry of a rewarded row (the live path's and the check's). A model
    instance reads its campaign's post (select it with the row)."""
    if isinstance(reward, ShareReward):
        title, slug = reward.campaign.post.title, reward.campaign.post.slug
    else:
        title, slug = reward.post_title, reward.post_slug
    return encode_feed_entry(
        reward.campaign_id,
        reward.campaign_tweet_id,
        str(reward.bux_rewarded),
        reward.retweet_id,
        reward.tx_hash,
        unix(reward.rewarded_at),
        liked=reward.liked,
        retweet_post_id=reward.retweet_post_id,
        title=title,
        slug=slug,
        undone=reward.status == "undone",
    )


def share_feed_entry(reward: ShareReward) -> FeedEntry:
    """A rewarded share's FeedEntry from its row: exactly what its stored entry
    reads back as from Redis (the member page's PostgreSQL fallback)."""
    entry = decode_feed_entry(feed_entry(reward), 0)
    assert entry is not None  # our own encoding is a JSON object
    return entry


def decode_feed_entry(raw: str, score: float) -> FeedEntry | None:
    """A stored entry (of any kind) ready to render; None if it is not a JSON
    object. The ZSET score stands in for a missing timestamp."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {
        "type": str(data.get("type") or ""),
        "label": str(data.get("label") or ""),
        "amount": _decimal(data.get("amount")),
        "retweet_id": data.get("retweet_id"),
        "tx_hash": data.get("tx_hash"),
        "timestamp": datetime.fromtimestamp(data.get("timestamp") or score, UTC),
        "url": data.get("url"),
        "title": data.get("title"),
        "post_url": data.get("post_url"),
        "action": data.get("action"),
        "retweet_url": data.get("retweet_url"),
    }


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None
