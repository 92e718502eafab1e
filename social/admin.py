from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import XConnection


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
