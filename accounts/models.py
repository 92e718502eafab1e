from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from .validators import normalize_wallet_address


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(
        self, email: str, password: str | None = None, **fields: Any
    ) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **fields)

    def create_superuser(
        self, email: str, password: str | None = None, **fields: Any
    ) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A site account. The email address is the login; there is no username."""

    email = models.EmailField("email address", max_length=254, unique=True)
    display_name = models.CharField(
        max_length=60, blank=True, help_text="Shown on your public member page."
    )
    wallet_address = models.CharField(
        max_length=42,
        blank=True,
        help_text="EVM address (0x…) that receives minted BUX, stored checksummed.",
    )
    # The X account this user is permanently locked to (set on first connection).
    locked_x_user_id = models.CharField(
        "locked X user id", max_length=32, null=True, blank=True, editable=False
    )
    # Retweets the reader took back after being paid for them (found by the audit
    # after payout), and how many of those staff have forgiven by lifting the bar
    # on new campaigns (accounts.services.is_barred_for_undone_shares).
    undone_shares = models.PositiveIntegerField(default=0, editable=False)
    undone_shares_forgiven = models.PositiveIntegerField(default=0, editable=False)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="accounts_user_email_ci_unique"
            ),
            models.UniqueConstraint(
                fields=["locked_x_user_id"],
                condition=models.Q(locked_x_user_id__isnull=False),
                name="accounts_user_locked_x_user_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email).lower()
        if self.wallet_address:
            try:
                self.wallet_address = normalize_wallet_address(self.wallet_address)
            except ValidationError as error:
                raise ValidationError({"wallet_address": error}) from None

    @property
    def public_name(self) -> str:
        """The name shown to other readers; never the email address."""
        return self.display_name or f"Member #{self.pk}"


class SecurityEvent(models.Model):
    """One entry of the security audit trail: who did what to an X connection, a
    token key or a reward. Written by accounts.services.record_security_event, never
    changed; `detail` holds ids and reasons, never a token, code or secret."""

    class Kind(models.TextChoices):
        X_CONNECTED = "x_connected", "X account connected"
        X_LINK_REFUSED_TAKEN = (
            "x_link_refused_taken",
            "X link refused: the X account belongs to another user",
        )
        X_LINK_REFUSED_LOCKED = (
            "x_link_refused_locked",
            "X link refused: the user is locked to another X account",
        )
        X_DISCONNECTED = "x_disconnected", "X account disconnected"
        X_REFRESH_FAILED = "x_refresh_failed", "X token refresh failed"
        X_RECONNECT_REQUIRED = "x_reconnect_required", "Asked to reconnect X"
        TOKEN_KEYS_ROTATED = "token_keys_rotated", "Token encryption keys rotated"
        MINT_RETRIED = "mint_retried", "Operator: retry minting"
        MINT_MARKED_FAILED = "mint_marked_failed", "Operator: marked failed (no mint)"
        MINT_RECORDED = "mint_recorded", "Operator: recorded a mint"
        UNDONE_BAR_LIFTED = (
            "undone_bar_lifted",
            "Operator: lifted the bar for undone retweets",
        )

    kind = models.CharField(max_length=32, choices=Kind.choices)
    # The user the event is about (the reader, the reward's owner).
    user = models.ForeignKey(
        "User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="security_events",
        db_index=False,  # the (user, created_at) index below serves it
    )
    # Who acted, when a person did: the reader themselves, or a staff member.
    actor = models.ForeignKey(
        "User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [
            models.Index(fields=["-created_at"], name="accounts_secevent_created"),
            models.Index(fields=["kind", "-created_at"], name="accounts_secevent_kind"),
            models.Index(fields=["user", "-created_at"], name="accounts_secevent_user"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M:%S})"
