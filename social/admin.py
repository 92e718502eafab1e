from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User

from .models import SharingPause, XConnection, XPrice, XSpend
from .spend import forget_prices, resume_sharing
from .spend.prices import usd


@admin.register(XConnection)
class XConnectionAdmin(admin.ModelAdmin):
    """Read-only: connections change only through the OAuth flow and its services."""

    list_display = (
        "user",
        "handle",
        "x_score",
        "token_expires_at",
        "score_calculated_at",
        "connected_at",
    )
    list_filter = ("connected_at", "score_calculated_at")
    search_fields = ("user__email", "x_username", "x_name", "x_user_id")
    list_select_related = ("user",)
    # Never the token columns: only these fields exist on the admin pages.
    fields = (
        "user",
        "x_user_id",
        "x_username",
        "x_name",
        "x_profile_image_url",
        "scopes",
        "token_expires_at",
        "x_score",
        "followers_count",
        "following_count",
        "tweet_count",
        "listed_count",
        "avg_engagement_rate",
        "original_tweets_analyzed",
        "account_created_at",
        "score_calculated_at",
        "connected_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="X account", ordering="x_username")
    def handle(self, connection: XConnection) -> str:
        return f"@{connection.x_username}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: XConnection | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: XConnection | None = None
    ) -> bool:
        return False


# --- What X costs ---------------------------------------------------------------------


@admin.register(XPrice)
class XPriceAdmin(admin.ModelAdmin):
    """X's prices, edited here when X changes them; every process reads them again
    within a minute."""

    list_display = ("kind", "description", "unit", "usd", "updated_at")
    list_editable = ("usd",)
    fields = ("kind", "description", "unit", "usd", "updated_at")
    readonly_fields = ("kind", "description", "unit", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # X bills these kinds; the client prices each call as one

    def has_delete_permission(
        self, request: HttpRequest, obj: XPrice | None = None
    ) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: XPrice, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        forget_prices()


@admin.register(XSpend)
class XSpendAdmin(admin.ModelAdmin):
    """Read-only: what X requests cost, per hour, campaign and purpose."""

    list_display = ("hour", "campaign_id", "purpose", "requests", "cost_usd")
    list_filter = ("purpose", "hour")
    date_hierarchy = "hour"
    ordering = ("-hour", "campaign_id", "purpose")

    @admin.display(description="Cost (USD)", ordering="cost_micros")
    def cost_usd(self, spend: XSpend) -> str:
        return f"${usd(spend.cost_micros)}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: XSpend | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: XSpend | None = None
    ) -> bool:
        return False


@admin.register(SharingPause)
class SharingPauseAdmin(admin.ModelAdmin):
    """Sharing paused across the site; an operator resumes it here once X's credits
    are topped up or the daily limit raised."""

    list_display = (
        "reason",
        "detail",
        "paused_at",
        "active",
        "resumed_at",
        "resumed_by",
    )
    list_filter = ("reason", "active")
    actions = ["resume"]
    fields = list_display
    readonly_fields = list_display

    @admin.action(description="Resume sharing", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[SharingPause]) -> None:
        resumed = sum(
            resume_sharing(pause, by=cast(User, request.user))
            for pause in queryset.filter(active=True)
        )
        if resumed:
            self.message_user(request, "Sharing resumed.", messages.SUCCESS)
        else:
            self.message_user(request, "Sharing was not paused.", messages.INFO)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: SharingPause | None = None
    ) -> bool:
        return False
