from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

# Refresh when the access token expires within this window (X tokens live 2 hours).
REFRESH_WINDOW = timedelta(minutes=60)
OAUTH_STATE_LIFETIME = timedelta(minutes=10)


class XConnection(models.Model):
    """A user's connected X account: profile, encrypted tokens and quality score.

    Tokens are stored only as ciphertext (social.crypto); read and write them through
    social.services.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="x_connection"
    )
    x_user_id = models.CharField("X user id", max_length=32, unique=True)
    x_username = models.CharField("X username", max_length=64)
    x_name = models.CharField("X display name", max_length=128, blank=True)
    x_profile_image_url = models.URLField(max_length=500, blank=True)
    access_token_encrypted = models.BinaryField(editable=False)
    refresh_token_encrypted = models.BinaryField(null=True, editable=False)
    token_expires_at = models.DateTimeField()
    scopes = ArrayField(models.CharField(max_length=64), default=list, blank=True)

    x_score = models.PositiveSmallIntegerField("X score", null=True, blank=True)
    followers_count = models.PositiveIntegerField(null=True, blank=True)
    following_count = models.PositiveIntegerField(null=True, blank=True)
    tweet_count = models.PositiveIntegerField(null=True, blank=True)
    listed_count = models.PositiveIntegerField(null=True, blank=True)
    avg_engagement_rate = models.FloatField(null=True, blank=True)
    original_tweets_analyzed = models.PositiveSmallIntegerField(null=True, blank=True)
    account_created_at = models.DateTimeField(null=True, blank=True)
    score_calculated_at = models.DateTimeField(null=True, blank=True)
    # The six components of the latest score, for the owner's breakdown.
    score_components = models.JSONField(default=dict, blank=True)

    connected_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "X connection"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(x_score__isnull=True)
                | models.Q(x_score__gte=1, x_score__lte=100),
                name="social_xconnection_score_range",
            )
        ]

    def __str__(self) -> str:
        return f"@{self.x_username}"

    def __repr__(self) -> str:
        return f"<XConnection {self.pk} user={self.user_id} @{self.x_username}>"

    @property
    def token_needs_refresh(self) -> bool:
        return self.token_expires_at <= timezone.now() + REFRESH_WINDOW

    @property
    def profile_url(self) -> str:
        return f"https://x.com/{self.x_username}"


def _state_expiry() -> datetime:
    return timezone.now() + OAUTH_STATE_LIFETIME


class XOAuthState(models.Model):
    """One pending authorization: single use, bound to the user who started it and
    to their browser session."""

    state = models.CharField(max_length=128, unique=True)
    # The PKCE verifier, encrypted like the tokens (social.crypto): SQL logs and
    # database copies never show it.
    code_verifier_encrypted = models.BinaryField(editable=False)
    redirect_to = models.CharField(max_length=500, default="/")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # SHA-256 of a secret kept in the browser session that started the flow: only
    # that session can finish it, not another session of the same user.
    session_binding = models.CharField(max_length=64, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_state_expiry, db_index=True)

    class Meta:
        verbose_name = "X OAuth state"

    def __str__(self) -> str:
        return f"OAuth state for user {self.user_id}"

    def __repr__(self) -> str:
        return f"<XOAuthState {self.pk} user={self.user_id}>"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


# --- What X charges (social.spend) ----------------------------------------------------


class XPrice(models.Model):
    """What X charges for one kind of request, editable when X changes its prices.
    Defaults: social.spend.prices.DEFAULT_PRICES."""

    class Unit(models.TextChoices):
        REQUEST = "request", "per successful request"
        RESOURCE = "resource", "per user or post returned"

    kind = models.CharField(max_length=20, unique=True)
    description = models.CharField(max_length=200)
    unit = models.CharField(max_length=10, choices=Unit.choices)
    usd = models.DecimalField(
        "price (USD)", max_digits=10, decimal_places=6, help_text="In US dollars."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "X price"
        ordering = ["kind"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(usd__gte=0), name="social_xprice_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: ${self.usd} {self.get_unit_display()}"


class XSpend(models.Model):
    """X requests and their cost, added up per hour, campaign (none for requests of
    no campaign: connecting, scores) and purpose; one row per combination, grown by
    one UPSERT per request (social.spend.record)."""

    hour = models.DateTimeField()
    # A plain id, no foreign key: campaigns sit above social, and spend outlives
    # nothing it needs to cascade to.
    campaign_id = models.PositiveIntegerField(null=True, blank=True)
    purpose = models.CharField(max_length=20)
    requests = models.PositiveIntegerField(default=0)
    cost_micros = models.BigIntegerField("cost (micro-dollars)", default=0)

    class Meta:
        verbose_name = "X spend"
        verbose_name_plural = "X spend"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "campaign_id", "purpose"],
                name="social_xspend_one_row_per_hour",
                nulls_distinct=False,
            )
        ]
        indexes = [
            models.Index(fields=["campaign_id", "hour"], name="social_xspend_camp_idx")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.purpose} {self.cost_micros}µ$"


class XSpendDay(models.Model):
    """The day's X spend (UTC), kept beside the hourly rows by the same statement so
    the daily limit is checked without adding anything up."""

    day = models.DateField(primary_key=True)
    cost_micros = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "X spend per day"
        verbose_name_plural = "X spend per day"

    def __str__(self) -> str:
        return f"{self.day}: {self.cost_micros}µ$"


class SharingPause(models.Model):
    """Sharing stopped across the site because X stopped taking our money (402
    CreditsDepleted) or the day's spend passed X_DAILY_SPEND_LIMIT_USD; it lasts
    until an operator resumes it."""

    class Reason(models.TextChoices):
        CREDITS_DEPLETED = "credits_depleted", "X credits depleted (402)"
        DAILY_LIMIT = "daily_limit", "Daily X spend limit reached"

    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.CharField(max_length=300, blank=True)
    # True until resumed; at most one pause is active.
    active = models.BooleanField(default=True)
    paused_at = models.DateTimeField(auto_now_add=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-paused_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"],
                condition=models.Q(active=True),
                name="social_one_active_sharing_pause",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} at {self.paused_at:%Y-%m-%d %H:%M} UTC"
