from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from accounts.services import BARRED_FOR_UNDONE_SHARES, is_barred_for_undone_shares
from posts.models import Post
from rewards.amounts import best_reward, x_multiplier
from rewards.reasons import MINTER_REFUSED, WALLET_REFUSED
from rewards.services.minting import next_mint_attempt
from social.models import XConnection
from social.services import get_x_connection_for_user
from social.spend import SHARING_PAUSED_MESSAGE, current_sharing_pause

from .models import (
    PLACE_HOLDING,
    CampaignStatus,
    CampaignTweet,
    ShareCampaign,
    ShareReward,
)
from .services.budget import campaign_usage, minimum_reward, reward_amount
from .services.confirm import reconnect_hold
from .services.share import ShareOutcome, is_score_pending

# A scheduled campaign's box reloads itself when the campaign opens; a browser's
# timer is trusted for this long at most before the box asks again.
LONGEST_OPENING_WAIT = timedelta(hours=6)


@dataclass(frozen=True)
class CampaignBox:
    """Everything the post page's share box shows, for one reader: of the whole
    campaign, and in `lines` of each of its tweets (a box each, whose `tweet`,
    `reward` and `outcome` are that tweet's). A campaign with one tweet is drawn
    from its one line."""

    post: Post
    campaign: ShareCampaign | None
    is_open: bool
    reward: ShareReward | None
    connection: XConnection | None
    amount: Decimal | None
    score_pending: bool
    score_unavailable: bool
    asks_like: bool
    share_intent_url: str
    viewer_wallet: str
    outcome: ShareOutcome | None = None
    budget_spent: bool = False
    sharing_paused_message: str = ""
    # Why the reader may not take part: they took back too many paid retweets.
    barred_message: str = ""
    # Where the campaign stands (CampaignStatus, "" without a campaign): full once
    # its places are taken, checked only while it is otherwise open.
    status: str = ""
    # The tweet was deleted on X after the launch (of a line; of the whole box,
    # every tweet of the campaign was).
    tweet_deleted: bool = False
    tweet: CampaignTweet | None = None
    lines: tuple[CampaignBox, ...] = ()

    @property
    def has_many_tweets(self) -> bool:
        return len(self.lines) > 1

    @property
    def can_share(self) -> bool:
        """A line whose tweet the reader can retweet now (the button shows)."""
        return (
            self.is_open
            and self.connection is not None
            and not self.score_pending
            and not self.shows_reward
        )

    @property
    def opens_at(self) -> datetime | None:
        if self.campaign is None or self.status != CampaignStatus.SCHEDULED:
            return None
        return self.campaign.starts_at

    @property
    def opens_in(self) -> int:
        """Seconds until a scheduled campaign opens (0 otherwise), the box's
        reload timer: at least one, at most LONGEST_OPENING_WAIT."""
        if self.opens_at is None:
            return 0
        wait = min(self.opens_at - timezone.now(), LONGEST_OPENING_WAIT)
        return max(int(wait.total_seconds()) + 1, 1)

    @property
    def shows_reward(self) -> bool:
        """The reward's state is what the box shows; a share that failed for want
        of a confirmation on X shows the share button again while the campaign is
        open (with the reason above it)."""
        return self.reward is not None and not (self.reward.can_retry and self.is_open)

    @property
    def retry_notice(self) -> str:
        """Why the reader's last share did not count, when they may share again."""
        return (
            self.reward.failure_reason if self.reward and self.reward.can_retry else ""
        )

    @property
    def reconnect_by(self) -> datetime | None:
        """Until when a share waiting for the reader to reconnect X keeps its place."""
        if self.reward is None or self.reward.shared_at is None:
            return None
        return self.reward.shared_at + reconnect_hold()

    @property
    def awaiting_wallet(self) -> bool:
        """The reward waits for the reader to add a wallet address, or to fix one
        the minter refused."""
        return (
            self.reward is not None
            and self.reward.status == ShareReward.Status.VERIFIED
            and not self.reward.needs_operator
            and (not self.viewer_wallet or self.reward.waiting_for_wallet)
        )

    @property
    def refusal(self) -> str:
        """The minter's own words when it refused the mint or the wallet."""
        reason = self.reward.failure_reason if self.reward else ""
        for prefix in (MINTER_REFUSED, WALLET_REFUSED):
            if reason.startswith(f"{prefix}: "):
                return reason.removeprefix(f"{prefix}: ")
        return ""

    @property
    def reward_state(self) -> str:
        """What the reader's reward is doing, as the box's `data-state` names it."""
        if self.reward is None:
            return ""
        Status = ShareReward.Status
        if self.reward.status == Status.PENDING:
            return "sharing"
        if self.reward.status == Status.SHARED:
            return "confirming" if self.connection is not None else "reconnect"
        if self.reward.status == Status.VERIFIED:
            if self.reward.needs_operator:
                return "operator"
            if self.awaiting_wallet:
                return "waiting-for-wallet"
            return "minter-retrying" if self.next_mint_attempt else "minting"
        return str(self.reward.status)

    @property
    def next_mint_attempt(self) -> datetime | None:
        """When a mint that failed for now is tried again (None unless it waits)."""
        return next_mint_attempt(self.reward) if self.reward is not None else None

    @property
    def retry_in(self) -> int:
        """Seconds until the next mint attempt (0 unless one is due later): the box
        says so and reloads itself then rather than polling for nothing new."""
        if self.next_mint_attempt is None:
            return 0
        wait = (self.next_mint_attempt - timezone.now()).total_seconds()
        return int(wait) + 1 if wait > 0 else 0

    @property
    def polling(self) -> bool:
        """The box refreshes itself while something it shows is about to change: a
        share in flight (perhaps in another tab), a confirmation, a mint (not while
        it waits for its next attempt), an X score; of any of its tweets."""
        if self.has_many_tweets:
            return any(line.polling for line in self.lines)
        return (
            (self.minting and not self.retry_in)
            or self.reward_state in ("sharing", "confirming")
            or (self.reward is None and self.is_open and self.score_pending)
        )

    @property
    def minting(self) -> bool:
        return (
            self.reward is not None
            and self.reward.is_minting
            and not self.awaiting_wallet
        )


def readers_rewards(
    user: User | AnonymousUser, campaign: ShareCampaign
) -> dict[int, ShareReward]:
    """The reader's rewards in the campaign, by campaign tweet."""
    if not user.is_authenticated:
        return {}
    rewards = ShareReward.objects.filter(user=user, campaign=campaign)
    return {reward.campaign_tweet_id: reward for reward in rewards}


def share_intent_url(post: Post) -> str:
    """A plain X share link (no reward involved)."""
    query = urlencode(
        {
            "text": post.title,
            "url": settings.SITE_URL.rstrip("/") + post.get_absolute_url(),
        }
    )
    return f"https://x.com/intent/post?{query}"


def _campaign_of(post: Post) -> ShareCampaign | None:
    try:
        return post.share_campaign  # loaded with the post when it was selected
    except ShareCampaign.DoesNotExist:
        return None


def campaign_box(
    user: User | AnonymousUser, post: Post, *, outcome: ShareOutcome | None = None
) -> CampaignBox:
    campaign = _campaign_of(post)
    tweets = list(campaign.tweets.all()) if campaign else []
    # A share just made carries the reader's reward and X connection as it left
    # them: the box after a press reads neither again (nor, for a campaign of one
    # tweet, the reader's other rewards: there are none).
    shared = outcome.reward if outcome is not None else None
    if shared is not None and len(tweets) == 1:
        rewards = {shared.campaign_tweet_id: shared}
    else:
        rewards = readers_rewards(user, campaign) if campaign else {}
        if shared is not None:
            rewards[shared.campaign_tweet_id] = shared
    if outcome is not None and outcome.connection is not None:
        connection: XConnection | None = outcome.connection
    else:
        connection = get_x_connection_for_user(user) if user.is_authenticated else None
    # Rewards the reader cannot share again are all the box shows: whether they
    # could share now (places, budget, a pause, a bar) is not asked.
    settled = all(
        (reward := rewards.get(tweet.pk)) is not None and not reward.can_retry
        for tweet in tweets
    )
    holds_place = any(reward.status in PLACE_HOLDING for reward in rewards.values())
    status = campaign.status_at(timezone.now()) if campaign else ""
    tweet_deleted = bool(tweets) and all(tweet.tweet_deleted_at for tweet in tweets)
    is_open = status == CampaignStatus.ACTIVE and not tweet_deleted
    amount = None
    budget_spent = False
    if campaign is not None:
        # The connection row is loaded already: its score is the multiplier.
        score = connection.x_score if connection is not None else None
        amount = reward_amount(campaign, x_multiplier(score))
        if is_open and not settled:
            usage = campaign_usage(campaign)
            # What this reader would earn, or the least anyone would.
            wanted = amount if connection is not None else minimum_reward(campaign)
            budget_spent = not usage.can_pay(campaign, wanted)
            # A reader who holds a place may share the campaign's other tweets.
            if not holds_place and campaign.is_full_with(usage.places):
                status = CampaignStatus.FULL
            is_open = status == CampaignStatus.ACTIVE and not budget_spent
    paused = ""
    if is_open and not settled and current_sharing_pause() is not None:
        paused, is_open = SHARING_PAUSED_MESSAGE, False
    barred = ""
    if (
        is_open
        and not settled
        and isinstance(user, User)
        and is_barred_for_undone_shares(user)
    ):
        barred, is_open = BARRED_FOR_UNDONE_SHARES, False
    box = CampaignBox(
        post=post,
        campaign=campaign,
        is_open=is_open,
        reward=None,
        connection=connection,
        amount=amount,
        score_pending=connection is not None and is_score_pending(connection),
        score_unavailable=connection is not None
        and connection.x_score is None
        and not is_score_pending(connection),
        asks_like=bool(campaign and campaign.request_like and settings.X_LIKES_ENABLED),
        share_intent_url=share_intent_url(post),
        # The reward is the viewer's own: their wallet is on the loaded user.
        viewer_wallet=getattr(user, "wallet_address", ""),
        outcome=outcome,
        budget_spent=budget_spent,
        sharing_paused_message=paused,
        barred_message=barred,
        status=status,
        tweet_deleted=tweet_deleted,
    )
    lines = tuple(_line(box, tweet, rewards.get(tweet.pk)) for tweet in tweets)
    if len(lines) == 1:
        return replace(lines[0], lines=lines)
    return replace(box, lines=lines)


def _line(
    box: CampaignBox, tweet: CampaignTweet, reward: ShareReward | None
) -> CampaignBox:
    """The box of one of the campaign's tweets, with the reader's reward for it."""
    outcome = box.outcome
    if outcome is not None and outcome.reward is not None:
        # A share's outcome is its tweet's; a refusal without a reward, the box's.
        outcome = outcome if outcome.reward.campaign_tweet_id == tweet.pk else None
    deleted = tweet.tweet_deleted_at is not None
    amount = box.amount
    if reward is not None and reward.bux_rewarded is not None:
        amount = reward.bux_rewarded
    return replace(
        box,
        tweet=tweet,
        reward=reward,
        outcome=outcome,
        amount=amount,
        tweet_deleted=deleted,
        is_open=box.is_open and not deleted,
    )


def open_campaign_rewards(posts: Iterable[Post]) -> dict[int, Decimal]:
    """The most a reader can earn from each post's campaign (each of its tweets
    still on X, at the best X score), by post id, for the posts whose campaign is
    open now (one query for the lot)."""
    campaigns = (
        ShareCampaign.objects.with_status()
        .filter(post__in=list(posts), campaign_status=CampaignStatus.ACTIVE)
        .annotate(
            live_tweets=Count("tweets", filter=Q(tweets__tweet_deleted_at__isnull=True))
        )
        .filter(live_tweets__gt=0)
        .values_list("post_id", "bux_reward", "live_tweets")
    )
    # A reader earns for each of the campaign's tweets still on X.
    return {post_id: best_reward(base) * tweets for post_id, base, tweets in campaigns}
