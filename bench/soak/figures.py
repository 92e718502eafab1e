"""What a soak run counts while it runs, and the report it prints at the end."""

from __future__ import annotations

import re
import statistics
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


def shape(message: str) -> str:
    # Amounts and reset times vary; the message shape is what is counted.
    return re.sub(r"\d[\d,:.]*", "N", message)


@dataclass
class Figures:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    share_seconds: list[float] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)
    # Retweets readers took back on X, and what the audit after payout found.
    undos: Counter[str] = field(default_factory=Counter)
    audit: Counter[str] = field(default_factory=Counter)
    # Seconds each phase took: setup, load, converge.
    timings: dict[str, float] = field(default_factory=dict)
    # Set while Redis is held down, so the answers readers get meanwhile are counted.
    redis_down: threading.Event = field(default_factory=threading.Event)

    def request(self, kind: str, status: int, seconds: float = 0.0) -> None:
        with self.lock:
            self.requests[(kind, status)] += 1
            if kind == "share POST":
                self.share_seconds.append(seconds)
            if kind == "share POST" and self.redis_down.is_set():
                self.notes[f"share POSTs while Redis was down: HTTP {status}"] += 1

    def count(self, counter: str, label: str, amount: int = 1) -> None:
        with self.lock:
            getattr(self, counter)[label] += amount

    def print_load(self, *, title: str, readers: int, places: int) -> None:
        from campaigns.models import ShareCampaign

        print(f"\n== soak figures ({title})")
        print(
            f"load {self.timings['load']:.0f} s, setup {self.timings['setup']:.1f} s, "
            f"convergence {self.timings['converge']:.1f} s; {readers} readers, "
            f"{ShareCampaign.objects.count()} campaigns of {places} places"
        )
        print("requests:")
        for kind in ("page GET", "share POST", "box GET"):
            statuses = {s: n for (k, s), n in self.requests.items() if k == kind}
            described = ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items()))
            print(f"  {kind:<11}{sum(statuses.values()):>7,}   ({described})")
        if seconds := self.share_seconds:
            quantiles = statistics.quantiles(seconds, n=20)
            print(
                f"  share POST latency p50 {statistics.median(seconds):.2f} s,"
                f" p95 {quantiles[18]:.2f} s, max {max(seconds):.2f} s"
            )
        print_counter("share outcomes (message shown)", self.outcomes)
        print_counter("errors", self.errors)
        print_counter("faults injected", self.faults)
        print_counter("readers taking retweets back on X", self.undos)
        print_counter("audit after payout (sums of its runs)", self.audit)
        print_counter("other", Counter({k: v for k, v in self.notes.items() if k}))


def print_rewards(
    mints: list[dict[str, Any]],
    retweets: list[dict[str, Any]],
    mirror: str,
    x_requests: dict[str, dict[str, Any]],
) -> None:
    """Where the rewards ended, against the minter's and X's records."""
    from django.db.models import Count, Sum

    from campaigns.models import ShareReward

    by_status = dict(ShareReward.objects.values_list("status").annotate(n=Count("pk")))
    minted = ShareReward.objects.filter(status__in=("rewarded", "undone")).aggregate(
        bux=Sum("bux_rewarded")
    )["bux"]
    print(
        "rewards: "
        + ", ".join(f"{s} {by_status.get(s, 0):,}" for s in ShareReward.Status)
        + f"; mints at the minter {len(mints):,}; BUX minted {minted or 0:,.0f}"
    )
    _print_operator_queue(mints)
    _print_pending(retweets)
    _print_x_cost(x_requests, len(mints))
    print(f"mirror: {mirror}")


def _print_x_cost(requests: dict[str, dict[str, Any]], minted: int) -> None:
    """What X would have billed (the sandbox's totals by route): the retweets and
    likes, and the timeline reads of the confirmation and the audit, per mint."""
    reads = requests.get("GET /2/users/:id/tweets", {"requests": 0, "cost_usd": "0"})
    total = sum(Decimal(r["cost_usd"]) for r in requests.values())
    per_reward = f"${total / minted:.4f}" if minted else "n/a"
    print(
        f"X cost: ${total:.3f} in all, {per_reward} per mint; timeline reads "
        f"(confirmation, audit, scores) {reads['requests']:,} for ${reads['cost_usd']}"
    )


def _print_operator_queue(mints: list[dict[str, Any]]) -> None:
    """Rewards left to an operator, and what the minter's records would show them:
    a mint to record, or none (retry)."""
    from campaigns.models import ShareReward

    keys = Counter(str(mint.get("idempotencyKey")) for mint in mints)
    queue = ShareReward.objects.filter(status="verified", needs_operator=True)
    reasons: Counter[str] = Counter()
    minted = 0
    for reward in queue:
        minted += keys[f"share-reward-{reward.pk}"] > 0
        reasons[shape(re.split(r"[:.(]", reward.failure_reason)[0].strip())] += 1
    total = sum(reasons.values())
    print(
        f"operator queue: {total:,} ({minted:,} minted at the minter: record; "
        f"{total - minted:,} not: retry)"
    )
    for reason, count in reasons.most_common():
        print(f"  {count:>7,}  {reason}")


def _print_pending(retweets: list[dict[str, Any]]) -> None:
    """Claims left pending by a request that failed after claiming (the sweeper
    frees them after `STALE_CLAIM_AGE`); whether X has the retweet says if a share
    was done at X but not yet counted."""
    from campaigns.models import ShareReward
    from campaigns.services import STALE_CLAIM_AGE

    pending = ShareReward.objects.filter(status="pending").select_related(
        "campaign_tweet", "x_connection"
    )
    if not pending:
        return
    done = {(str(rt["user_id"]), str(rt["tweet_id"])) for rt in retweets}
    at_x = sum(
        (r.x_connection.x_user_id, r.campaign_tweet.tweet_id) in done
        for r in pending
        if r.x_connection is not None
    )
    print(
        f"pending claims left by failed requests: {len(pending)} "
        f"({at_x} of them retweeted at X), freed by the sweeper after "
        f"{STALE_CLAIM_AGE.total_seconds() / 60:g} minutes"
    )


def print_tweets() -> None:
    """The campaigns by number of tweets, the rewards each tweet got (all of them,
    and those minted) by its place in its campaign, and the readers who shared
    several tweets of a campaign that was full."""
    from django.db.models import Count, Q

    from bench.soak.checks import readers_sharing_several_tweets_of_full_campaigns
    from campaigns.models import MINTED_STATUSES, CampaignTweet

    tweets = list(
        CampaignTweet.objects.annotate(
            made=Count("rewards"),
            minted=Count("rewards", filter=Q(rewards__status__in=MINTED_STATUSES)),
        )
        .order_by("campaign_id", "position", "pk")
        .values_list("campaign_id", "made", "minted")
    )
    of_campaign: dict[int, list[tuple[int, int]]] = {}
    for campaign_id, made, minted in tweets:
        of_campaign.setdefault(campaign_id, []).append((made, minted))
    sizes = Counter(len(listed) for listed in of_campaign.values())
    multi = sum(n for size, n in sizes.items() if size > 1)
    described = ", ".join(
        f"{n} of {size} tweet{'s' if size > 1 else ''}"
        for size, n in sorted(sizes.items())
    )
    print(
        f"campaigns: {len(of_campaign)}, {multi} of them multi-tweet ({described}); "
        f"{len(tweets)} tweets"
    )
    per_tweet = [made for _, made, _ in tweets]
    if per_tweet:
        print(
            f"rewards per tweet: mean {statistics.mean(per_tweet):.1f}, "
            f"max {max(per_tweet)}, none for {per_tweet.count(0)} tweet(s)"
        )
    by_position: dict[int, list[int]] = {}
    for listed in of_campaign.values():
        for index, (made, minted) in enumerate(listed, start=1):
            counts = by_position.setdefault(index, [0, 0, 0])
            counts[0] += 1
            counts[1] += made
            counts[2] += minted
    for index, (count, made, minted) in sorted(by_position.items()):
        print(
            f"  tweet {index} of its campaign: {count} tweets, {made:,} rewards "
            f"({made / count:.1f} a tweet), {minted:,} minted"
        )
    several = readers_sharing_several_tweets_of_full_campaigns()
    print(
        "readers holding a place with rewards for several tweets of a full "
        f"campaign (allowed): {sum(several.values())} in {len(several)} campaign(s)"
    )


def print_counter(title: str, counter: Counter[str]) -> None:
    print(f"{title}:" + ("" if counter else " none"))
    for label, count in counter.most_common():
        print(f"  {count:>7,}  {label}")
