from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict, cast

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Count, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from django.utils.functional import cached_property

from rewards.reasons import RETRYABLE_FAILURES

from .policy import validate_verify_policy

# The database's name for "one active campaign per tweet"; services recognise it.
ACTIVE_TWEET_CONSTRAINT = "campaigns_one_active_campaign_per_tweet"


class CampaignStatus(models.TextChoices):
    """Where a campaign stands, decided in this order: inactive, ended, scheduled,
    full, active (ShareCampaign.status_at, and in SQL ShareCampaignQuerySet)."""

    ACTIVE = "active", "Active"
    SCHEDULED = "scheduled", "Scheduled"
    ENDED = "ended", "Ended"
    FULL = "full", "Full"
    INACTIVE = "inactive", "Inactive"


class StatusAnnotations(TypedDict):
    places: int
    campaign_status: str


if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    # A campaign as ShareCampaignQuerySet.with_status() returns it.
    CampaignWithStatus = WithAnnotations["ShareCampaign", StatusAnnotations]


class ShareCampaignQuerySet(models.QuerySet["ShareCampaign"]):
    def with_status(self) -> models.QuerySet[CampaignWithStatus]:
        """Annotate `places` and `campaign_status` (what status_at decides, in SQL),
        so lists and filters need no extra query per campaign.

        Places count as the share flow counts them: readers holding a reward in
        PLACE_HOLDING (claims in flight included), each once whatever number of the
        campaign's tweets they shared, so "Full" here means the post page offers the
        campaign only to readers who already hold a place.
        """
        now = timezone.now()
        places = (
            ShareReward.objects.filter(
                campaign=OuterRef("pk"), status__in=PLACE_HOLDING
            )
            .order_by()
            .values("campaign")
            .annotate(n=Count("user", distinct=True))
            .values("n")
        )
        annotated = self.annotate(places=Coalesce(Subquery(places), 0)).annotate(
            campaign_status=models.Case(
                When(is_active=False, then=Value(CampaignStatus.INACTIVE)),
                When(ends_at__lte=now, then=Value(CampaignStatus.ENDED)),
                When(starts_at__gt=now, then=Value(CampaignStatus.SCHEDULED)),
                When(
                    max_participants__isnull=False,
                    places__gte=F("max_participants"),
                    then=Value(CampaignStatus.FULL),
                ),
                default=Value(CampaignStatus.ACTIVE),
                output_field=models.CharField(),
            )
        )
        # django-stubs types a custom queryset's annotate() by its row, not as the
        # annotated model the callers read.
        return cast("models.QuerySet[CampaignWithStatus]", annotated)

    def with_bux_held(self) -> ShareCampaignQuerySet:
        """Annotate `bux_held`: the BUX its rewards hold against the budget (claims in
        flight, shares on their way to the mint, minted shares)."""
        held = (
            ShareReward.objects.filter(
                campaign=OuterRef("pk"), status__in=PLACE_HOLDING
            )
            .order_by()
            .values("campaign")
            .annotate(bux=models.Sum("bux_rewarded"))
            .values("bux")
        )
        return self.annotate(
            bux_held=Coalesce(
                Subquery(held),
                Value(Decimal("0")),
                output_field=models.DecimalField(max_digits=18, decimal_places=2),
            )
        )


class ShareCampaign(models.Model):
    """A post's Retweet & Like campaign: its tweets to share (CampaignTweet, in
    order), the base reward, and the window, places and budget they share."""

    post = models.OneToOneField(
        "posts.Post", on_delete=models.PROTECT, related_name="share_campaign"
    )
    bux_reward = models.DecimalField(
        "base BUX reward",
        max_digits=18,
        decimal_places=2,
        default=Decimal("50"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Multiplied by each reader's X score (1-100) and rounded.",
    )
    request_like = models.BooleanField(
        "also like the tweet",
        default=True,
        help_text="Ask X to like the tweet too. The reward needs only the retweet.",
    )
    is_active = models.BooleanField(
        default=True,
        help_text="Only active campaigns accept shares. A tweet can be in one active "
        "campaign at a time, and a reader earns for a tweet once, whichever campaign "
        "it was shared from.",
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_participants = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Leave empty for no limit.",
    )
    bux_budget = models.DecimalField(
        "BUX budget",
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="The most BUX this campaign pays out in total, counting shares "
        "still on their way. Leave empty for no limit.",
    )
    close_when_spent = models.BooleanField(
        "close when the budget is spent",
        default=False,
        help_text="Deactivate the campaign by itself once less than one minimum "
        "reward (the base reward at X score 1) is left of its budget.",
    )
    verify_shares = models.CharField(
        "confirm retweets on X",
        max_length=12,
        blank=True,
        validators=[validate_verify_policy],
        help_text="Empty: the site's setting (X_VERIFY_SHARES). all: every retweet "
        "is found on the reader's X timeline before BUX are minted; sample:25: one "
        "share in four, picked at random; off: paid on X's answer alone.",
    )
    total_shares = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShareCampaignQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=models.F("starts_at")),
                name="campaigns_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(max_participants__isnull=True) | Q(max_participants__gt=0),
                name="campaigns_max_participants_positive",
            ),
            models.CheckConstraint(
                condition=Q(bux_reward__gte=0), name="campaigns_bux_reward_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(bux_budget__isnull=True) | Q(bux_budget__gt=0),
                name="campaigns_bux_budget_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Campaign for “{self.post}”"

    def status_at(self, now: datetime, *, places: int | None = None) -> CampaignStatus:
        """The campaign's status at `now`, with `places` taken (rewards in
        PLACE_HOLDING); without `places`, capacity is not checked."""
        if not self.is_active:
            return CampaignStatus.INACTIVE
        if self.ends_at is not None and self.ends_at <= now:
            return CampaignStatus.ENDED
        if self.starts_at is not None and self.starts_at > now:
            return CampaignStatus.SCHEDULED
        if places is not None and self.is_full_with(places):
            return CampaignStatus.FULL
        return CampaignStatus.ACTIVE

    def is_open_at(self, now: datetime) -> bool:
        """Active and inside its window (capacity is checked against the rewards)."""
        return self.status_at(now) == CampaignStatus.ACTIVE

    @cached_property
    def first_tweet(self) -> CampaignTweet:
        """The campaign's first tweet (every campaign has one)."""
        return self.tweets.all()[0]

    def is_full_with(self, places: int) -> bool:
        return self.max_participants is not None and places >= self.max_participants

    @property
    def is_open(self) -> bool:
        return self.is_open_at(timezone.now())


class CampaignTweet(models.Model):
    """One of a campaign's tweets, in order: a reader earns once for each.

    `campaign_is_active` is the campaign's `is_active`, copied by PostgreSQL
    triggers (migration 0008) on every write of either table, so the database
    keeps a tweet in one active campaign at a time whoever saves a campaign.
    """

    campaign = models.ForeignKey(
        ShareCampaign, on_delete=models.CASCADE, related_name="tweets"
    )
    position = models.PositiveSmallIntegerField(default=0)
    tweet_id = models.CharField(max_length=19)
    tweet_url = models.URLField(max_length=300)
    # The tweet as X showed it when staff added it (campaigns.services.tweets), for
    # the card the share box draws; empty for tweets added before it was read.
    tweet_text = models.TextField(blank=True, editable=False)
    tweet_author_name = models.CharField(max_length=50, blank=True, editable=False)
    # X allows 15 characters; older handles, and the sandbox's personas, are longer.
    tweet_author_username = models.CharField(max_length=50, blank=True, editable=False)
    tweet_posted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When X answered "not found" for the tweet (a retweet of it, or the read of it
    # before a share's retweet is judged missing): the author deleted it on X.
    tweet_deleted_at = models.DateTimeField(
        "tweet deleted on X", null=True, blank=True, editable=False
    )
    campaign_is_active = models.BooleanField(default=True, editable=False)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "tweet_id"],
                name="campaigns_tweet_once_per_campaign",
                violation_error_message="This tweet is already in the campaign.",
            ),
            # Two campaigns accepting shares of one tweet would pay a reader twice
            # for one retweet. Inactive campaigns stay out of the rule, so a tweet
            # can be used again once its campaign is deactivated: the rewards it
            # still mints, and any reader who shared it, are kept from paying twice
            # by the share flow (one reward per reader and tweet, see
            # campaigns.services.create_pending_reward).
            models.UniqueConstraint(
                fields=["tweet_id"],
                condition=Q(campaign_is_active=True),
                name=ACTIVE_TWEET_CONSTRAINT,
                violation_error_message="Another active campaign already uses this "
                "tweet.",
            ),
        ]

    def __str__(self) -> str:
        return f"Tweet {self.tweet_id}"


class ShareReward(models.Model):
    """One reader's share of one of a campaign's tweets: granted at most once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # claimed, X not yet answered
        SHARED = "shared", "Shared, confirming on X"  # X accepted the retweet
        VERIFIED = "verified", "Verified"  # confirmed (or not checked); mint queued
        REWARDED = "rewarded", "Rewarded"  # minted, tx_hash set
        FAILED = "failed", "Failed"  # a final refusal, with its reason
        UNDONE = "undone", "Undone on X"  # rewarded, then the retweet was removed

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="share_rewards"
    )
    campaign = models.ForeignKey(
        ShareCampaign, on_delete=models.PROTECT, related_name="rewards"
    )
    # The tweet shared; always one of `campaign`'s tweets.
    campaign_tweet = models.ForeignKey(
        CampaignTweet, on_delete=models.PROTECT, related_name="rewards"
    )
    x_connection = models.ForeignKey(
        "social.XConnection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="share_rewards",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    retweet_id = models.CharField(max_length=19, blank=True)
    liked = models.BooleanField(default=False)
    bux_rewarded = models.DecimalField(
        "BUX", max_digits=18, decimal_places=2, null=True, blank=True
    )
    failure_reason = models.TextField(blank=True)
    # The confirmation on X (campaigns.services.confirm): when X accepted the
    # retweet, how many reads of the reader's timeline have not found it yet, and
    # the reader's own post that retweets the tweet, once a read found it.
    shared_at = models.DateTimeField(null=True, blank=True)
    confirm_attempts = models.PositiveSmallIntegerField(default=0)
    retweet_post_id = models.CharField("retweet post on X", max_length=19, blank=True)
    # The audit after payout (rewards.services.audit) looked at the retweet again.
    audited_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    rewarded_at = models.DateTimeField(null=True, blank=True)
    tx_hash = models.CharField(max_length=66, null=True, blank=True)
    # Minting bookkeeping: a set mint_started_at means a request to the minter may be
    # in flight; needs_operator puts the reward in the operator queue (an unknown
    # outcome, or attempts exhausted: failure_reason says which); waiting_for_wallet
    # means the reader has no wallet address, or the minter refused it, and saving
    # one in Settings queues the mint again.
    mint_attempts = models.PositiveSmallIntegerField(default=0)
    mint_started_at = models.DateTimeField(null=True, blank=True)
    needs_operator = models.BooleanField(default=False)
    waiting_for_wallet = models.BooleanField(default=False)
    # While pending: the share request's last sign of life, on the database's clock.
    # The request renews it as long as it waits for X, and the sweeper frees only a
    # claim left unrenewed for STALE_CLAIM_AGE (campaigns.services).
    claim_renewed_at = models.DateTimeField(db_default=Now(), editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "campaign_tweet"],
                name="campaigns_one_reward_per_user_and_tweet",
            ),
            models.UniqueConstraint(
                fields=["tx_hash"],
                condition=Q(tx_hash__isnull=False),
                name="campaigns_tx_hash_unique",
            ),
            models.CheckConstraint(
                condition=~Q(status="rewarded") | Q(tx_hash__isnull=False),
                name="campaigns_rewarded_has_tx_hash",
            ),
            models.CheckConstraint(
                condition=~Q(status="undone") | Q(tx_hash__isnull=False),
                name="campaigns_undone_has_tx_hash",
            ),
            models.CheckConstraint(
                condition=Q(bux_rewarded__isnull=True) | Q(bux_rewarded__gte=0),
                name="campaigns_bux_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="campaigns_status_idx"),
            models.Index(
                fields=["campaign", "status"], name="campaigns_camp_status_idx"
            ),
            # The audit's queue: confirmed, rewarded shares not looked at again yet.
            models.Index(
                fields=["rewarded_at"],
                condition=Q(status="rewarded", audited_at__isnull=True)
                & ~Q(retweet_post_id=""),
                name="campaigns_audit_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.campaign_id} · {self.status}"

    @property
    def is_minting(self) -> bool:
        """Verified and on its way to the minter: nobody needs to act."""
        return (
            self.status == self.Status.VERIFIED
            and not self.needs_operator
            and not self.waiting_for_wallet
        )

    @property
    def can_retry(self) -> bool:
        """Failed for want of a confirmation on X: the reader's next share resets
        this row into a new claim (campaigns.services.claim)."""
        return self.status == self.Status.FAILED and self.failure_reason in (
            RETRYABLE_FAILURES
        )


# Reward statuses that hold their reader a place in the campaign: claims in flight
# as well as successful shares, so a burst of readers can never take more places
# than the campaign has. A place is a reader's, for all the campaign's tweets.
PLACE_HOLDING = (
    ShareReward.Status.PENDING,
    ShareReward.Status.SHARED,
    ShareReward.Status.VERIFIED,
    ShareReward.Status.REWARDED,
    # Paid, then taken back on X: the BUX stay minted, so the place stays taken.
    ShareReward.Status.UNDONE,
)
# Reward statuses whose BUX were minted: rewarded, and undone after payout.
MINTED_STATUSES: tuple[str, ...] = (
    ShareReward.Status.REWARDED,
    ShareReward.Status.UNDONE,
)


class CampaignAlert(models.Model):
    """A campaign reached a share of its budget or places: shown in admin and mailed
    to ADMINS once per campaign, measure and threshold."""

    class Measure(models.TextChoices):
        BUDGET = "budget", "BUX budget"
        PLACES = "places", "Places"

    campaign = models.ForeignKey(
        ShareCampaign, on_delete=models.CASCADE, related_name="alerts"
    )
    measure = models.CharField(max_length=10, choices=Measure.choices)
    # Percent of the limit reached: one of ALERT_THRESHOLDS.
    threshold = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "measure", "threshold"],
                name="campaigns_one_alert_per_threshold",
            )
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.threshold}% of {self.get_measure_display()}"


# Percentages of a campaign's budget or places at which staff are told.
ALERT_THRESHOLDS = (80, 100)
