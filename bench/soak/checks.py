"""The invariants a soak run must end with, read from PostgreSQL and the sandbox.

Runs in the soak process once the stack is quiet (workers and web stopped), with
Django configured on the soak database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import MINTED_STATUSES, CampaignTweet, ShareCampaign, ShareReward
from campaigns.services import PLACE_HOLDING, STALE_CLAIM_AGE

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

Status = ShareReward.Status
# Shares counted in total_shares: confirmed (or paid on X's answer), minted or not,
# and those taken back on X after their mint.
SUCCESSFUL = (Status.VERIFIED, Status.REWARDED, Status.UNDONE)
MINTED = MINTED_STATUSES
EXAMPLES = 3


class _Counts(TypedDict):
    successful: int
    holding: int


@dataclass
class Invariant:
    name: str
    checked: int = 0
    violations: int = 0
    examples: list[str] = field(default_factory=list)

    def fail(self, example: str) -> None:
        self.violations += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)


def check_invariants(
    *,
    mints: list[dict[str, Any]],
    retweets: list[dict[str, Any]],
    undone_retweets: list[dict[str, Any]],
    removed_retweets: list[dict[str, Any]],
    sweep_period: float,
    mirror_in_sync: bool,
    mirror_detail: str,
) -> list[Invariant]:
    rewards = list(
        ShareReward.objects.select_related(
            "user", "x_connection", "user__x_connection"
        ).order_by("pk")
    )
    campaigns = counted_campaigns()
    tweets = tweets_by_pk()
    x = XRecords(
        retweets,
        undone_retweets,
        removed_retweets,
        {pk: tweet.tweet_id for pk, tweet in tweets.items()},
    )
    return [
        _one_per_pair(rewards),
        _tweet_of_campaign(rewards, tweets),
        _total_shares(campaigns),
        _within_limit(campaigns),
        _rewarded_minted_once(rewards, mints),
        _mints_belong_to_rewards(rewards, mints),
        _no_mint_unseen_on_x(rewards, mints, x),
        _shares_retweeted(rewards, x),
        _undone_really_undone(rewards, x),
        _not_found_really_absent(rewards, x),
        _nothing_stuck(rewards, sweep_period),
        _mirror(rewards, mirror_in_sync, mirror_detail),
    ]


def counted_campaigns() -> list[WithAnnotations[ShareCampaign, _Counts]]:
    """Every campaign with its successful shares (rewards, one per reader and
    tweet: what total_shares counts) and its places held (distinct readers with a
    place-holding reward, whatever number of its tweets each shared)."""
    return list(
        ShareCampaign.objects.annotate(
            successful=Count("rewards", filter=Q(rewards__status__in=SUCCESSFUL)),
            holding=Count(
                "rewards__user",
                filter=Q(rewards__status__in=PLACE_HOLDING),
                distinct=True,
            ),
        ).order_by("pk")
    )


def tweets_by_pk() -> dict[int, CampaignTweet]:
    return {tweet.pk: tweet for tweet in CampaignTweet.objects.order_by("pk")}


def readers_sharing_several_tweets_of_full_campaigns() -> Counter[int]:
    """Readers holding a place in a full campaign with rewards for more than one
    of its tweets (allowed: a place is a reader's, for every tweet), by campaign.
    A figure, not a violation."""
    full = {
        campaign.pk
        for campaign in counted_campaigns()
        if campaign.max_participants is not None
        and campaign.holding >= campaign.max_participants
    }
    several = (
        ShareReward.objects.filter(campaign__in=full, status__in=PLACE_HOLDING)
        .values("campaign", "user")
        .annotate(tweets=Count("campaign_tweet", distinct=True))
        .filter(tweets__gt=1)
    )
    return Counter(row["campaign"] for row in several)


@dataclass
class XRecords:
    """What the sandbox's X holds: retweets standing now, those taken back by their
    reader (with their post and when), and those that left X with their deleted
    original (no reader's undo), by (X user, X tweet id)."""

    retweets: list[dict[str, Any]]
    undone_retweets: list[dict[str, Any]]
    removed_retweets: list[dict[str, Any]]
    # X's tweet id of each CampaignTweet, by its pk.
    tweet_of: dict[int, str]

    def __post_init__(self) -> None:
        self.standing = {
            (str(rt["user_id"]), str(rt["tweet_id"])): str(rt["retweet_id"])
            for rt in self.retweets
        }
        self.undone: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for record in self.undone_retweets:
            key = (str(record["user_id"]), str(record["tweet_id"]))
            self.undone.setdefault(key, []).append(record)
        self.removed = {
            (str(r["user_id"]), str(r["tweet_id"])): str(r["retweet_id"])
            for r in self.removed_retweets
        }

    def key(self, reward: ShareReward) -> tuple[str, str]:
        # The reader's X account: the reward's connection, or (after a reconnect
        # detached it) the reader's current one; a reader is locked to one account.
        connection = reward.x_connection or getattr(reward.user, "x_connection", None)
        x_user = connection.x_user_id if connection else ""
        return str(x_user), self.tweet_of[reward.campaign_tweet_id]

    def posts_of(self, reward: ShareReward) -> set[str]:
        """Every retweet post this reader made of the reward's tweet."""
        key = self.key(reward)
        posts = {str(r["retweet_id"]) for r in self.undone.get(key, [])}
        for held in (self.standing, self.removed):
            if key in held:
                posts.add(held[key])
        return posts


def _one_per_pair(rewards: list[ShareReward]) -> Invariant:
    result = Invariant("at most one reward per (user, campaign tweet)", len(rewards))
    pairs = Counter((r.user_id, r.campaign_tweet_id) for r in rewards)
    for (user_id, tweet_id), count in pairs.items():
        if count > 1:
            result.fail(f"user {user_id} campaign tweet {tweet_id}: {count} rows")
    return result


def _tweet_of_campaign(
    rewards: list[ShareReward], tweets: dict[int, CampaignTweet]
) -> Invariant:
    result = Invariant("each reward's tweet is one of its campaign's", len(rewards))
    for reward in rewards:
        tweet = tweets[reward.campaign_tweet_id]
        if tweet.campaign_id != reward.campaign_id:
            result.fail(
                f"reward {reward.pk}: campaign {reward.campaign_id}, "
                f"tweet of campaign {tweet.campaign_id}"
            )
    return result


def _total_shares(
    campaigns: list[WithAnnotations[ShareCampaign, _Counts]],
) -> Invariant:
    # Shares, not readers: a reader's share of each tweet counts once.
    result = Invariant("total_shares = verified + rewarded + undone", len(campaigns))
    for campaign in campaigns:
        if campaign.total_shares != campaign.successful:
            result.fail(
                f"campaign {campaign.pk}: total_shares {campaign.total_shares}, "
                f"{campaign.successful} verified/rewarded/undone"
            )
    return result


def _within_limit(
    campaigns: list[WithAnnotations[ShareCampaign, _Counts]],
) -> Invariant:
    result = Invariant(
        "no campaign over max_participants (distinct readers)", len(campaigns)
    )
    for campaign in campaigns:
        limit = campaign.max_participants
        if limit is not None and campaign.holding > limit:
            result.fail(
                f"campaign {campaign.pk}: {campaign.holding} readers hold places, "
                f"max {limit}"
            )
    return result


def _mints_by_key(mints: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for mint in mints:
        by_key.setdefault(str(mint.get("idempotencyKey")), []).append(mint)
    return by_key


def _rewarded_minted_once(
    rewards: list[ShareReward], mints: list[dict[str, Any]]
) -> Invariant:
    rewarded = [r for r in rewards if r.status in MINTED]
    result = Invariant(
        "each rewarded/undone row: exactly one mint, same tx", len(rewarded)
    )
    by_key = _mints_by_key(mints)
    for reward in rewarded:
        found = by_key.get(f"share-reward-{reward.pk}", [])
        if len(found) != 1:
            result.fail(f"reward {reward.pk}: {len(found)} mints")
            continue
        mint = found[0]
        if mint["transactionHash"] != reward.tx_hash:
            result.fail(f"reward {reward.pk}: tx {reward.tx_hash} but minted elsewhere")
        elif Decimal(str(mint["amount"])) != reward.bux_rewarded:
            result.fail(
                f"reward {reward.pk}: {reward.bux_rewarded} BUX, "
                f"minted {mint['amount']}"
            )
        elif str(mint["walletAddress"]).lower() != reward.user.wallet_address.lower():
            result.fail(f"reward {reward.pk}: minted to another wallet")
    return result


def _mints_belong_to_rewards(
    rewards: list[ShareReward], mints: list[dict[str, Any]]
) -> Invariant:
    """A mint belongs to one reward: rewarded with its transaction, or in the
    operator queue (its answer was lost; the operator will find this mint)."""
    result = Invariant("each mint: one rewarded or operator row", len(mints))
    by_key = {f"share-reward-{r.pk}": r for r in rewards}
    for key, found in _mints_by_key(mints).items():
        reward = by_key.get(key)
        if reward is None:
            result.fail(f"{len(found)} mint(s) under {key}: no such reward")
        elif len(found) > 1:
            result.fail(f"{len(found)} mints under {key}")
        elif _in_operator_queue(reward):
            continue
        elif reward.status not in MINTED:
            result.fail(f"{key} minted, reward is {reward.status}")
        elif found[0]["transactionHash"] != reward.tx_hash:
            result.fail(
                f"{key} minted {found[0]['transactionHash'][:12]}…, row differs"
            )
    return result


def _no_mint_unseen_on_x(
    rewards: list[ShareReward], mints: list[dict[str, Any]], x: XRecords
) -> Invariant:
    """With every share confirmed (X_VERIFY_SHARES=all), BUX go only to a share
    whose retweet the confirmation saw on the reader's timeline: its post is one
    the reader really made at X."""
    by_key = {f"share-reward-{r.pk}": r for r in rewards}
    result = Invariant("no mint for a share never seen on X", len(mints))
    for key in _mints_by_key(mints):
        reward = by_key.get(key)
        if reward is None:
            continue  # counted by "each mint: one rewarded or operator row"
        if not reward.retweet_post_id:
            result.fail(f"{key} minted, its retweet never seen on X")
        elif reward.retweet_post_id not in x.posts_of(reward):
            result.fail(f"{key} minted for post {reward.retweet_post_id}, not at X")
    return result


def _shares_retweeted(rewards: list[ShareReward], x: XRecords) -> Invariant:
    """A verified or rewarded share's retweet stands at X, unless the reader took it
    back after it was looked at for the last time: a rewarded share after its audit
    (the audit looks once), a verified one (its mint waiting for an operator: no
    audit) after the confirmation saw it; or it left X with its deleted original
    (no reader's undo)."""
    standing = [r for r in rewards if r.status in (Status.VERIFIED, Status.REWARDED)]
    result = Invariant("each verified/rewarded share retweeted at X", len(standing))
    for reward in standing:
        key = x.key(reward)
        if key in x.standing or key in x.removed:
            continue
        seen = reward.audited_at if reward.status == Status.REWARDED else None
        if reward.status == Status.VERIFIED:
            seen = reward.verified_at
        taken_back_later = seen is not None and any(
            record["at"] > seen.timestamp() for record in x.undone.get(key, [])
        )
        if not taken_back_later:
            result.fail(f"reward {reward.pk}: no retweet by X user {key[0]}")
    return result


def _undone_really_undone(rewards: list[ShareReward], x: XRecords) -> Invariant:
    undone = [r for r in rewards if r.status == Status.UNDONE]
    result = Invariant("each undone share really undone at X", len(undone))
    for reward in undone:
        key = x.key(reward)
        taken_back = {str(r["retweet_id"]) for r in x.undone.get(key, [])}
        if x.standing.get(key) == reward.retweet_post_id:
            result.fail(f"reward {reward.pk}: its retweet still stands at X")
        elif reward.retweet_post_id not in taken_back:
            result.fail(f"reward {reward.pk}: X has no undo of its retweet")
    return result


def _not_found_really_absent(rewards: list[ShareReward], x: XRecords) -> Invariant:
    """A share failed as "not found on X" was taken back: no retweet of it stands."""
    failed = [r for r in rewards if r.can_retry]
    result = Invariant("each share failed as not found: no retweet at X", len(failed))
    for reward in failed:
        if x.key(reward) in x.standing:
            result.fail(f"reward {reward.pk} failed, but its retweet stands at X")
    return result


def _in_operator_queue(reward: ShareReward) -> bool:
    return reward.status == Status.VERIFIED and reward.needs_operator


def _nothing_stuck(rewards: list[ShareReward], sweep_period: float) -> Invariant:
    """Verified rows must all be minted by now, or in the operator queue (an allowed
    end: a person decides); a pending claim is stuck only once the sweeper should
    have freed it."""
    now: datetime = timezone.now()
    pending_limit = STALE_CLAIM_AGE + timedelta(seconds=sweep_period)
    open_statuses = (Status.VERIFIED, Status.PENDING, Status.SHARED)
    open_rows = [r for r in rewards if r.status in open_statuses]
    result = Invariant("no reward stuck pending, shared or unminted", len(rewards))
    for reward in open_rows:
        if _in_operator_queue(reward):
            continue
        if reward.status == Status.SHARED:
            why = reward.failure_reason or "no failure recorded"
            result.fail(
                f"reward {reward.pk} still shared after {reward.confirm_attempts} "
                f"look(s): {why[:80]}"
            )
        elif reward.status == Status.VERIFIED:
            why = reward.failure_reason or "no failure recorded"
            result.fail(
                f"reward {reward.pk} unminted after {reward.mint_attempts} "
                f"attempt(s): {why[:80]}"
            )
        elif now - reward.claim_renewed_at > pending_limit:
            result.fail(
                f"reward {reward.pk} pending, last renewed {reward.claim_renewed_at:%X}"
            )
    return result


def _mirror(rewards: list[ShareReward], in_sync: bool, detail: str) -> Invariant:
    result = Invariant("Redis mirror = PostgreSQL after repair", len(rewards))
    if not in_sync:
        result.fail(detail)
    return result


def print_invariants(invariants: list[Invariant]) -> None:
    width = max(len(i.name) for i in invariants)
    print(f"\n{'invariant':<{width}}  {'checked':>8}  {'violations':>10}")
    print("-" * (width + 22))
    for invariant in invariants:
        print(
            f"{invariant.name:<{width}}  {invariant.checked:>8,}  "
            f"{invariant.violations:>10,}"
        )
        for example in invariant.examples:
            print(f"    e.g. {example}")
