from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .models import Post
from .services import publish_post


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ("title", "author", "is_published", "published_at")
    list_filter = ("is_published",)
    search_fields = ("title", "slug", "body")
    prepopulated_fields = {"slug": ("title",)}
    date_hierarchy = "published_at"
    autocomplete_fields = ("author",)
    readonly_fields = ("created_at", "updated_at")
    actions = ["publish"]

    def get_changeform_initial_data(
        self, request: HttpRequest
    ) -> dict[str, str | list[str]]:
        return {
            "author": str(request.user.pk),
            **super().get_changeform_initial_data(request),
        }

    def save_model(
        self, request: HttpRequest, obj: Post, form: forms.ModelForm[Post], change: bool
    ) -> None:
        if obj.is_published and obj.published_at is None:
            obj.published_at = timezone.now()
        super().save_model(request, obj, form, change)

    @admin.action(description="Publish selected posts")
    def publish(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        drafts = list(queryset.filter(is_published=False))
        for post in drafts:
            publish_post(post)
        self.message_user(
            request, f"Published {len(drafts)} post(s).", messages.SUCCESS
        )
