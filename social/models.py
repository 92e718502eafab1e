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
