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

from campaigns.models import ShareCampaign, ShareReward
from campaigns.services import PLACE_HOLDING, STALE_CLAIM_AGE

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

Status = ShareReward.Status
SUCCESSFUL = (Status.VERIFIED, Status.REWARDED)
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
    sweep_period: float,
    mirror_in_sync: bool,
    mirror_detail: str,
) -> list[Invariant]:
    rewards = list(
        ShareReward.objects.select_related("user", "x_connection").order_by("pk")
    )
    campaigns = list(
        ShareCampaign.objects.annotate(
            successful=Count("rewards", filter=Q(rewards__status__in=SUCCESSFUL)),
            holding=Count("rewards", filter=Q(rewards__status__in=PLACE_HOLDING)),
        ).order_by("pk")
    )
    tweet_of = {campaign.pk: campaign.tweet_id for campaign in campaigns}
    return [
        _one_per_pair(rewards),
        _total_shares(campaigns),
        _within_limit(campaigns),
        _rewarded_minted_once(rewards, mints),
        _mints_belong_to_rewards(rewards, mints),
        _shares_retweeted(rewards, retweets, tweet_of),
        _nothing_stuck(rewards, sweep_period),
        _mirror(rewards, mirror_in_sync, mirror_detail),
    ]


def _one_per_pair(rewards: list[ShareReward]) -> Invariant:
    result = Invariant("at most one reward per (user, campaign)", len(rewards))
    pairs = Counter((r.user_id, r.campaign_id) for r in rewards)
    for (user_id, campaign_id), count in pairs.items():
        if count > 1:
            result.fail(f"user {user_id} campaign {campaign_id}: {count} rows")
    return result


def _total_shares(
    campaigns: list[WithAnnotations[ShareCampaign, _Counts]],
) -> Invariant:
    result = Invariant("total_shares = verified + rewarded", len(campaigns))
    for campaign in campaigns:
        if campaign.total_shares != campaign.successful:
            result.fail(
                f"campaign {campaign.pk}: total_shares {campaign.total_shares}, "
                f"{campaign.successful} verified/rewarded"
            )
    return result


def _within_limit(
    campaigns: list[WithAnnotations[ShareCampaign, _Counts]],
) -> Invariant:
    result = Invariant("no campaign over max_participants", len(campaigns))
    for campaign in campaigns:
        limit = campaign.max_participants
        if limit is not None and campaign.holding > limit:
            result.fail(
                f"campaign {campaign.pk}: {campaign.holding} places held, max {limit}"
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
    rewarded = [r for r in rewards if r.status == Status.REWARDED]
    result = Invariant("each rewarded row: exactly one mint, same tx", len(rewarded))
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
        elif reward.status != Status.REWARDED:
            result.fail(f"{key} minted, reward is {reward.status}")
        elif found[0]["transactionHash"] != reward.tx_hash:
            result.fail(
                f"{key} minted {found[0]['transactionHash'][:12]}…, row differs"
            )
    return result


def _shares_retweeted(
    rewards: list[ShareReward],
    retweets: list[dict[str, Any]],
    tweet_of: dict[int, str],
) -> Invariant:
    successful = [r for r in rewards if r.status in SUCCESSFUL]
    result = Invariant("each verified/rewarded share retweeted at X", len(successful))
    done = {(str(rt["user_id"]), str(rt["tweet_id"])) for rt in retweets}
    for reward in successful:
        x_user = reward.x_connection.x_user_id if reward.x_connection else None
        if (str(x_user), tweet_of[reward.campaign_id]) not in done:
            result.fail(f"reward {reward.pk}: no retweet by X user {x_user}")
    return result


def _in_operator_queue(reward: ShareReward) -> bool:
    return reward.status == Status.VERIFIED and reward.needs_operator


def _nothing_stuck(rewards: list[ShareReward], sweep_period: float) -> Invariant:
    """Verified rows must all be minted by now, or in the operator queue (an allowed
    end: a person decides); a pending claim is stuck only once the sweeper should
    have freed it."""
    now: datetime = timezone.now()
    pending_limit = STALE_CLAIM_AGE + timedelta(seconds=sweep_period)
    open_rows = [r for r in rewards if r.status in (Status.VERIFIED, Status.PENDING)]
    result = Invariant("no reward stuck pending or unminted", len(rewards))
    for reward in open_rows:
        if _in_operator_queue(reward):
            continue
        if reward.status == Status.VERIFIED:
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
