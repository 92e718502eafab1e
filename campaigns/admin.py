"""Admin for share campaigns: edited from the post form (an inline) and from their
own screens, their tweets as a list of links, with their statistics. The reward
admin is rewards' (rewards/admin.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, cast

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from posts.admin import PostAdmin
from posts.models import Post
from rewards.amounts import format_bux

from .dashboard.views import dashboard_view, export_response, export_view
from .forms import EDITED_FIELDS, ShareCampaignForm
from .models import (
    CampaignStatus,
    CampaignTweet,
    ShareCampaign,
    ShareCampaignQuerySet,
    ShareReward,
)
from .services.budget import campaign_usage
from .services.campaigns import (
    get_campaign_stats,
    set_campaign_active,
    violates_one_active_campaign_per_tweet,
)

if TYPE_CHECKING:
    from .models import CampaignWithStatus

RewardStatus = ShareReward.Status


def _when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def budget_bar(held: Decimal, budget: Decimal) -> str:
    """The budget used, as a bar with its figures beside it (the text is what a
    screen reader reads)."""
    percent = held * 100 / budget
    return format_html(
        '<meter class="budget-bar" min="0" max="{}" value="{}" high="{}" '
        'aria-hidden="true"></meter> <span class="budget-figures">{} / {} BUX '
        "({}%)</span>",
        budget,
        min(held, budget),
        budget * Decimal("0.8"),
        format_bux(held),
        format_bux(budget),
        percent.quantize(Decimal("1")),
    )


def tweets_on_x(campaign: ShareCampaign) -> str:
    """The campaign's tweets in order, each as X showed it when it was added or what
    became of it, with its shares."""
    if campaign.pk is None:
        return "—"
    tweets = CampaignTweet.objects.filter(campaign=campaign).annotate(
        shares=Count("rewards")
    )
    return render_to_string(
        "admin/campaigns/sharecampaign/tweets.html", {"tweets": tweets}
    )


# --- Campaigns ------------------------------------------------------------------------


class CampaignStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        return CampaignStatus.choices

    def queryset(
        self,
        request: HttpRequest,
        queryset: QuerySet[CampaignWithStatus],
    ) -> QuerySet[CampaignWithStatus]:
        status = self.value()
        if status in CampaignStatus.values:
            return queryset.filter(campaign_status=status)
        return queryset


class ShareCampaignInline(admin.StackedInline):
    """The post's campaign on the post form: paste tweet URLs to start one. An
    inline cannot hold another, so its tweets are one field, a link a line."""

    model = ShareCampaign
    form = ShareCampaignForm
    max_num = 1
    extra = 1
    # What the form edits, with its tweets as X shows them and the share count.
    fields = ("tweet_urls", "tweets_on_x", *EDITED_FIELDS, "total_shares")
    readonly_fields = ("tweets_on_x", "total_shares")
    show_change_link = True
    verbose_name = "Retweet & Like campaign"
    verbose_name_plural = "Retweet & Like campaign"

    @admin.display(description="On X")
    def tweets_on_x(self, campaign: ShareCampaign) -> str:
        return tweets_on_x(campaign)

    def has_delete_permission(
        self, request: HttpRequest, obj: Post | None = None
    ) -> bool:
        # Rewards keep their campaign: once anyone took part, deactivate instead.
        if obj is not None and ShareReward.objects.filter(campaign__post=obj).exists():
            return False
        return super().has_delete_permission(request, obj)


# Refusals the save itself may raise when another writer got in after the form's
# checks: another campaign took a tweet, or a reader shared one being taken out.
SAVE_RACE_CODES = {"tweet_in_use", "tweet_has_shares"}


class RevalidatedIfTweetTaken(admin.ModelAdmin):
    """The form's tweet checks and the save are not one step: another campaign may
    take a tweet in between, or a reader share one being taken out, and the save
    is then refused. Running the view again shows the form with the reason, not an
    error page."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, object] | None = None,
    ) -> HttpResponse:
        view = partial(
            super().changeform_view, request, object_id, form_url, extra_context
        )
        try:
            return view()
        except IntegrityError as error:
            if not violates_one_active_campaign_per_tweet(error):
                raise
            return view()
        except ValidationError as error:
            codes = {e.code for e in getattr(error, "error_list", [])}
            if not codes & SAVE_RACE_CODES:
                raise
            return view()


# Extends the posts app's admin from here so that posts never imports campaigns.
admin.site.unregister(Post)


@admin.register(Post)
class PostWithCampaignAdmin(RevalidatedIfTweetTaken, PostAdmin):
    inlines = [*PostAdmin.inlines, ShareCampaignInline]


@admin.register(ShareCampaign)
class ShareCampaignAdmin(RevalidatedIfTweetTaken):
    form = ShareCampaignForm
    list_display = (
        "post_title",
        "tweet_links",
        "places",
        "shares",
        "status",
        "period",
        "base_reward",
        "budget_used",
        "dashboard_link",
    )
    list_filter = ("is_active", CampaignStatusFilter, "request_like")
    search_fields = ("post__title", "tweets__tweet_id")
    search_help_text = "Search by post title or the id of one of its tweets."
    list_select_related = ("post",)
    autocomplete_fields = ("post",)
    ordering = ("-created_at",)
    actions = ["toggle_active", "export_rewards"]
    change_list_template = "admin/campaigns/sharecampaign/change_list.html"
    fieldsets = (
        (None, {"fields": ("post", "tweet_urls", "tweets_on_x")}),
        (
            "Reward",
            {
                "fields": (
                    "bux_reward",
                    "request_like",
                    "verify_shares",
                    "bux_budget",
                    "close_when_spent",
                )
            },
        ),
        (
            "Availability",
            {"fields": ("is_active", "starts_at", "ends_at", "max_participants")},
        ),
        (
            "Results",
            {
                "fields": (
                    "total_shares",
                    "budget_used",
                    "statistics",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = (
        "tweets_on_x",
        "total_shares",
        "budget_used",
        "statistics",
        "created_at",
        "updated_at",
    )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "dashboard/",
                view(partial(dashboard_view, self)),
                name="campaigns_sharecampaign_dashboard_all",
            ),
            path(
                "<int:campaign_id>/dashboard/",
                view(partial(dashboard_view, self)),
                name="campaigns_sharecampaign_dashboard",
            ),
            path(
                "<int:campaign_id>/export/",
                view(partial(export_view, self)),
                name="campaigns_sharecampaign_export",
            ),
            *super().get_urls(),
        ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CampaignWithStatus]:
        campaigns = cast("ShareCampaignQuerySet", super().get_queryset(request))
        return campaigns.with_bux_held().with_status().prefetch_related("tweets")

    def get_readonly_fields(
        self, request: HttpRequest, obj: ShareCampaign | None = None
    ) -> tuple[str, ...]:
        # Moving a campaign, with its rewards, to another post is never meant.
        if obj is not None:
            return ("post", *self.readonly_fields)
        return self.readonly_fields

    def has_delete_permission(
        self, request: HttpRequest, obj: ShareCampaign | None = None
    ) -> bool:
        if obj is not None and obj.rewards.exists():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(
        self,
        request: HttpRequest,
        obj: ShareCampaign,
        form: ShareCampaignForm,
        change: bool,
    ) -> None:
        form.save_campaign(obj)

    @admin.display(description="Post", ordering="post__title")
    def post_title(self, campaign: ShareCampaign) -> str:
        return campaign.post.title

    @admin.display(description="Tweets")
    def tweet_links(self, campaign: ShareCampaign) -> str:
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>{}',
            (
                (
                    tweet.tweet_url,
                    tweet.tweet_id,
                    " (deleted on X)" if tweet.tweet_deleted_at else "",
                )
                for tweet in campaign.tweets.all()
            ),
        )

    @admin.display(description="On X")
    def tweets_on_x(self, campaign: ShareCampaign) -> str:
        return tweets_on_x(campaign)

    @admin.display(description="Places", ordering="places")
    def places(self, campaign: CampaignWithStatus) -> str:
        """Readers holding a place, of the limit: a reader is one place however
        many of the campaign's tweets they share."""
        limit = campaign.max_participants
        return f"{campaign.places} / {'∞' if limit is None else limit}"

    @admin.display(description="Shares", ordering="total_shares")
    def shares(self, campaign: ShareCampaign) -> int:
        return campaign.total_shares

    @admin.display(description="Status", ordering="campaign_status")
    def status(self, campaign: CampaignWithStatus) -> str:
        label = CampaignStatus(campaign.campaign_status).label
        tweets = campaign.tweets.all()
        deleted = sum(tweet.tweet_deleted_at is not None for tweet in tweets)
        if deleted and len(tweets) == 1:
            return f"{label} · tweet deleted on X"
        if deleted:
            return f"{label} · {deleted} of {len(tweets)} tweets deleted on X"
        return label

    @admin.display(description="Period", ordering="starts_at")
    def period(self, campaign: ShareCampaign) -> str:
        starts_at, ends_at = campaign.starts_at, campaign.ends_at
        if starts_at and ends_at:
            return f"{_when(starts_at)} → {_when(ends_at)}"
        if starts_at:
            return f"From {_when(starts_at)}"
        if ends_at:
            return f"Until {_when(ends_at)}"
        return "Open-ended"

    @admin.display(description="Base BUX", ordering="bux_reward")
    def base_reward(self, campaign: ShareCampaign) -> str:
        return format_bux(campaign.bux_reward)

    @admin.display(description="Budget used")
    def budget_used(self, campaign: ShareCampaign) -> str:
        if campaign.bux_budget is None:
            return "No budget"
        held = getattr(campaign, "bux_held", None)
        if held is None:  # a form's instance, not a row of the annotated list
            held = campaign_usage(campaign).bux_held
        return budget_bar(held, campaign.bux_budget)

    @admin.display(description="Dashboard")
    def dashboard_link(self, campaign: ShareCampaign) -> str:
        if campaign.pk is None:
            return "—"
        return format_html(
            '<a href="{}">Dashboard</a>',
            reverse("admin:campaigns_sharecampaign_dashboard", args=(campaign.pk,)),
        )

    @admin.display(description="Statistics")
    def statistics(self, campaign: ShareCampaign) -> str:
        if campaign.pk is None:
            return "—"
        stats = get_campaign_stats(campaign)
        rewards_url = reverse("admin:campaigns_sharereward_changelist")
        filtered = f"{rewards_url}?campaign__id__exact={campaign.pk}"
        by_status = {
            RewardStatus.PENDING: stats["pending"],
            RewardStatus.SHARED: stats["shared"],
            RewardStatus.VERIFIED: stats["verified"],
            RewardStatus.REWARDED: stats["rewarded"],
            RewardStatus.UNDONE: stats["undone"],
            RewardStatus.FAILED: stats["failed"],
        }
        rows = [("Total", stats["total"], filtered)] + [
            (status.label, count, f"{filtered}&status__exact={status}")
            for status, count in by_status.items()
        ]
        return render_to_string(
            "admin/campaigns/sharecampaign/statistics.html",
            {"rows": rows, "total_bux": format_bux(stats["total_bux"])},
        )

    @admin.action(description="Export rewards as CSV", permissions=["view"])
    def export_rewards(
        self, request: HttpRequest, queryset: QuerySet[ShareCampaign]
    ) -> HttpResponseBase | None:
        campaigns = list(queryset.order_by("pk")[:2])
        if len(campaigns) != 1:
            self.message_user(
                request, "Select one campaign to export its rewards.", messages.WARNING
            )
            return None
        return export_response(campaigns[0])

    @admin.action(description="Toggle active", permissions=["change"])
    def toggle_active(
        self, request: HttpRequest, queryset: QuerySet[ShareCampaign]
    ) -> None:
        switched: Counter[str] = Counter()
        refused: list[str] = []
        for campaign in queryset.select_related("post").order_by("pk"):
            try:
                set_campaign_active(campaign, active=not campaign.is_active)
            except ValidationError as error:
                refused.append(f"“{campaign.post.title}”: {' '.join(error.messages)}")
                continue
            switched["activated" if campaign.is_active else "deactivated"] += 1
        self.message_user(
            request,
            f"Activated {switched['activated']} "
            f"campaign{pluralize(switched['activated'])}, "
            f"deactivated {switched['deactivated']} "
            f"campaign{pluralize(switched['deactivated'])}.",
            messages.WARNING if refused else messages.SUCCESS,
        )
        for reason in refused:
            self.message_user(request, f"Not activated {reason}", messages.ERROR)
