"""Admin for share campaigns and their rewards.

Campaigns are edited from the post form (an inline) and from their own screens;
rewards are read-only, and operators act on them only through the minting services.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.models import SecurityEvent, User
from accounts.services import DetailValue, record_security_event
from blockster.proxy import client_ip
from posts.admin import PostAdmin
from posts.models import Post
from rewards.explorer import short_tx, tx_url
from rewards.services import mark_failed, mark_rewarded, retry_minting

from .forms import MarkFailedForm, RecordMintForm, ShareCampaignForm
from .models import PLACE_HOLDING, ShareCampaign, ShareReward
from .services.campaigns import (
    get_campaign_stats,
    set_campaign_active,
    violates_one_active_campaign_per_tweet,
)

RewardStatus = ShareReward.Status


def _bux(amount: Decimal | None) -> str:
    if amount is None:
        return "—"
    if amount == amount.to_integral_value():
        return f"{amount:,.0f}"
    return f"{amount:,.2f}"


def _when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- Campaigns ------------------------------------------------------------------------


class CampaignStatus(models.TextChoices):
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

    # A campaign as with_campaign_status() returns it.
    CampaignWithStatus = WithAnnotations[ShareCampaign, StatusAnnotations]


def with_campaign_status(
    queryset: QuerySet[ShareCampaign],
) -> QuerySet[CampaignWithStatus]:
    """Annotate `places` and `campaign_status`, so lists and filters need no extra
    query per campaign.

    Places count as the share flow counts them (claims in flight included), so
    "Full" here means the post page no longer offers the campaign.
    """
    now = timezone.now()
    places = (
        ShareReward.objects.filter(campaign=OuterRef("pk"), status__in=PLACE_HOLDING)
        .order_by()
        .values("campaign")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(
        places=Coalesce(Subquery(places), 0),
    ).annotate(
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


CAMPAIGN_FIELDS = (
    "tweet_url",
    "tweet_id",
    "bux_reward",
    "request_like",
    "is_active",
    "starts_at",
    "ends_at",
    "max_participants",
    "total_shares",
)


class ShareCampaignInline(admin.StackedInline):
    """The post's campaign on the post form: paste a tweet URL to start one."""

    model = ShareCampaign
    form = ShareCampaignForm
    max_num = 1
    extra = 1
    fields = CAMPAIGN_FIELDS
    readonly_fields = ("tweet_id", "total_shares")
    show_change_link = True
    verbose_name = "Retweet & Like campaign"
    verbose_name_plural = "Retweet & Like campaign"

    def has_delete_permission(
        self, request: HttpRequest, obj: Post | None = None
    ) -> bool:
        # Rewards keep their campaign: once anyone took part, deactivate instead.
        if obj is not None and ShareReward.objects.filter(campaign__post=obj).exists():
            return False
        return super().has_delete_permission(request, obj)


def _revalidated_if_tweet_taken(view: Callable[[], HttpResponse]) -> HttpResponse:
    """The form's tweet check and the save are not one step: another campaign may
    take the tweet in between, and the database then refuses the save. Running the
    view again shows the form with that campaign named, not an error page."""
    try:
        return view()
    except IntegrityError as error:
        if not violates_one_active_campaign_per_tweet(error):
            raise
        return view()


# Extends the posts app's admin from here so that posts never imports campaigns.
admin.site.unregister(Post)


@admin.register(Post)
class PostWithCampaignAdmin(PostAdmin):
    inlines = [*PostAdmin.inlines, ShareCampaignInline]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, object] | None = None,
    ) -> HttpResponse:
        view = super().changeform_view
        return _revalidated_if_tweet_taken(
            partial(view, request, object_id, form_url, extra_context)
        )


@admin.register(ShareCampaign)
class ShareCampaignAdmin(admin.ModelAdmin):
    form = ShareCampaignForm
    list_display = (
        "post_title",
        "tweet_link",
        "shares",
        "status",
        "period",
        "base_reward",
    )
    list_filter = ("is_active", CampaignStatusFilter, "request_like")
    search_fields = ("post__title", "tweet_id")
    search_help_text = "Search by post title or tweet id."
    list_select_related = ("post",)
    autocomplete_fields = ("post",)
    ordering = ("-created_at",)
    actions = ["toggle_active"]
    fieldsets = (
        (None, {"fields": ("post", "tweet_url", "tweet_id")}),
        ("Reward", {"fields": ("bux_reward", "request_like")}),
        (
            "Availability",
            {"fields": ("is_active", "starts_at", "ends_at", "max_participants")},
        ),
        (
            "Results",
            {"fields": ("total_shares", "statistics", "created_at", "updated_at")},
        ),
    )
    readonly_fields = (
        "tweet_id",
        "total_shares",
        "statistics",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[CampaignWithStatus]:
        return with_campaign_status(super().get_queryset(request))

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

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, object] | None = None,
    ) -> HttpResponse:
        view = super().changeform_view
        return _revalidated_if_tweet_taken(
            partial(view, request, object_id, form_url, extra_context)
        )

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

    @admin.display(description="Tweet", ordering="tweet_id")
    def tweet_link(self, campaign: ShareCampaign) -> str:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            campaign.tweet_url,
            campaign.tweet_id,
        )

    @admin.display(description="Shares", ordering="total_shares")
    def shares(self, campaign: ShareCampaign) -> str:
        limit = campaign.max_participants
        return f"{campaign.total_shares} / {'∞' if limit is None else limit}"

    @admin.display(description="Status", ordering="campaign_status")
    def status(self, campaign: CampaignWithStatus) -> str:
        return CampaignStatus(campaign.campaign_status).label

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
        return _bux(campaign.bux_reward)

    @admin.display(description="Statistics")
    def statistics(self, campaign: ShareCampaign) -> str:
        if campaign.pk is None:
            return "—"
        stats = get_campaign_stats(campaign)
        rewards_url = reverse("admin:campaigns_sharereward_changelist")
        filtered = f"{rewards_url}?campaign__id__exact={campaign.pk}"
        by_status = {
            RewardStatus.PENDING: stats["pending"],
            RewardStatus.VERIFIED: stats["verified"],
            RewardStatus.REWARDED: stats["rewarded"],
            RewardStatus.FAILED: stats["failed"],
        }
        rows = [("Total", stats["total"], filtered)] + [
            (status.label, count, f"{filtered}&status__exact={status}")
            for status, count in by_status.items()
        ]
        return render_to_string(
            "admin/campaigns/sharecampaign/statistics.html",
            {"rows": rows, "total_bux": _bux(stats["total_bux"])},
        )

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
            f"Activated {_plural(switched['activated'], 'campaign')}, "
            f"deactivated {_plural(switched['deactivated'], 'campaign')}.",
            messages.WARNING if refused else messages.SUCCESS,
        )
        for reason in refused:
            self.message_user(request, f"Not activated {reason}", messages.ERROR)


# --- Rewards --------------------------------------------------------------------------


class CampaignListFilter(admin.RelatedFieldListFilter):
    """The campaign filter, labelled by post title in one query."""

    def field_choices(  # type: ignore[override]  # django-stubs: Django's own are int pks
        self, field: models.Field, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[int, str]]:
        campaigns = ShareCampaign.objects.select_related("post").order_by("-created_at")
        return [(campaign.pk, campaign.post.title) for campaign in campaigns]


def _not_eligible_because(reward: ShareReward) -> str:
    """Why a minting service left this reward alone, in the operator's words."""
    if reward.status == RewardStatus.REWARDED:
        return "already rewarded"
    if reward.status == RewardStatus.FAILED:
        return "already failed"
    if reward.status == RewardStatus.PENDING:
        return "not verified yet"
    if reward.needs_operator:
        return "flagged: the minter may have minted it"
    if reward.mint_started_at is not None:
        return "a mint is in flight"
    return "changed meanwhile"


def _audit(
    request: HttpRequest,
    kind: SecurityEvent.Kind,
    reward: ShareReward,
    **detail: DetailValue,
) -> None:
    """An operator's action on a reward, for the security audit trail."""
    record_security_event(
        kind,
        user=reward.user,
        actor=request.user if isinstance(request.user, User) else None,
        ip=client_ip(request),
        detail={"reward_id": reward.pk, "campaign_id": reward.campaign_id, **detail},
    )


REWARD_FIELDS = (
    "user",
    "campaign",
    "x_connection",
    "status",
    "bux_rewarded",
    "retweet_id",
    "liked",
    "verified_at",
    "rewarded_at",
    "tx_hash",
    "mint_attempts",
    "mint_started_at",
    "needs_operator",
    "waiting_for_wallet",
    "failure_reason",
    "created_at",
    "updated_at",
)


@admin.register(ShareReward)
class ShareRewardAdmin(admin.ModelAdmin):
    """Read-only: rewards move only through the share flow and the minting services."""

    list_display = (
        "user",
        "campaign_post",
        "status",
        "bux",
        "verified_at",
        "rewarded_at",
        "transaction",
        "attention",
    )
    list_filter = (
        "status",
        ("campaign", CampaignListFilter),
        "needs_operator",
        "waiting_for_wallet",
        "liked",
    )
    search_fields = ("user__email", "=tx_hash")
    search_help_text = "Search by reader email or full transaction hash."
    list_select_related = ("user", "campaign__post")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ["retry_mint", "mark_failed_no_mint", "record_mint"]
    fields = REWARD_FIELDS
    readonly_fields = REWARD_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ShareReward | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ShareReward | None = None
    ) -> bool:
        return False

    def has_mint_permission(self, request: HttpRequest) -> bool:
        # The screens are read-only, but acting on minting is for staff who hold
        # the model's change permission.
        return request.user.has_perm("campaigns.change_sharereward")

    @admin.display(description="Campaign", ordering="campaign__post__title")
    def campaign_post(self, reward: ShareReward) -> str:
        return reward.campaign.post.title

    @admin.display(description="BUX", ordering="bux_rewarded")
    def bux(self, reward: ShareReward) -> str:
        return _bux(reward.bux_rewarded)

    @admin.display(description="Transaction", ordering="tx_hash")
    def transaction(self, reward: ShareReward) -> str:
        if not reward.tx_hash:
            return "—"
        short, link = short_tx(reward.tx_hash), tx_url(reward.tx_hash)
        if not link:
            return format_html('<span title="{}">{}</span>', reward.tx_hash, short)
        return format_html(
            '<a href="{}" title="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            link,
            reward.tx_hash,
            short,
        )

    @admin.display(description="Needs operator / failure")
    def attention(self, reward: ShareReward) -> str:
        reason = Truncator(reward.failure_reason).chars(80)
        if reward.needs_operator:
            return format_html("<strong>Needs operator</strong>: {}", reason)
        if reward.waiting_for_wallet:
            return format_html("<strong>Waiting for the reader</strong>: {}", reason)
        return reason or "—"

    @admin.action(description="Retry minting", permissions=["mint"])
    def retry_mint(
        self, request: HttpRequest, queryset: QuerySet[ShareReward]
    ) -> TemplateResponse | None:
        rewards = list(queryset.select_related("user", "campaign__post").order_by("pk"))
        flagged = [r for r in rewards if r.needs_operator]
        # Without an idempotent minter a flagged reward may already have been minted:
        # retrying it must be a deliberate decision after checking the minter.
        if flagged and request.POST.get("confirm") != "yes":
            return self._action_page(
                request,
                "admin/campaigns/sharereward/retry_minting_confirmation.html",
                action="retry_mint",
                title="Retry minting flagged rewards?",
                rewards=rewards,
                flagged=flagged,
            )
        queued, waiting_for_wallet = 0, 0
        skipped: Counter[str] = Counter()
        for reward in rewards:
            if retry_minting(reward):
                _audit(
                    request,
                    SecurityEvent.Kind.MINT_RETRIED,
                    reward,
                    was_flagged=reward.needs_operator,
                )
                queued += 1
                waiting_for_wallet += not reward.user.wallet_address
            else:
                reward.refresh_from_db()
                skipped[_not_eligible_because(reward)] += 1
        summary = f"Queued {_plural(queued, 'reward')} for minting."
        if waiting_for_wallet:
            who = "It" if queued == 1 else f"{waiting_for_wallet} of them"
            summary += f" {who} will wait until the reader adds a wallet address."
        self._report(request, summary, skipped)
        return None

    @admin.action(description="Mark as failed (no mint)", permissions=["mint"])
    def mark_failed_no_mint(
        self, request: HttpRequest, queryset: QuerySet[ShareReward]
    ) -> TemplateResponse | None:
        rewards = list(queryset.select_related("user", "campaign__post").order_by("pk"))
        form = MarkFailedForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._action_page(
                request,
                "admin/campaigns/sharereward/mark_failed_confirmation.html",
                action="mark_failed_no_mint",
                title="Mark rewards as failed without minting",
                rewards=rewards,
                form=form,
            )
        closed = 0
        skipped: Counter[str] = Counter()
        for reward in rewards:
            if mark_failed(reward, form.cleaned_data["reason"]):
                _audit(
                    request,
                    SecurityEvent.Kind.MINT_MARKED_FAILED,
                    reward,
                    reason=form.cleaned_data["reason"],
                )
                closed += 1
            else:
                reward.refresh_from_db()
                skipped[_not_eligible_because(reward)] += 1
        self._report(request, f"Marked {_plural(closed, 'reward')} as failed.", skipped)
        return None

    @admin.action(description="Record a mint found at the minter", permissions=["mint"])
    def record_mint(
        self, request: HttpRequest, queryset: QuerySet[ShareReward]
    ) -> TemplateResponse | None:
        rewards = list(queryset.select_related("user", "campaign__post")[:2])
        if len(rewards) != 1 or not rewards[0].needs_operator:
            self.message_user(
                request,
                "Select exactly one reward that needs an operator: a mint is recorded "
                "for one reward at a time, after checking the minter's records.",
                messages.ERROR,
            )
            return None
        form = RecordMintForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._action_page(
                request,
                "admin/campaigns/sharereward/record_mint.html",
                action="record_mint",
                title="Record a mint found at the minter",
                rewards=rewards,
                form=form,
            )
        try:
            recorded = mark_rewarded(
                rewards[0], tx_hash=form.cleaned_data["tx_hash"].lower()
            )
        except IntegrityError:
            self.message_user(
                request,
                "Nothing recorded: that transaction is already recorded for another "
                "reward.",
                messages.ERROR,
            )
            return None
        if recorded:
            _audit(
                request,
                SecurityEvent.Kind.MINT_RECORDED,
                rewards[0],
                tx_hash=form.cleaned_data["tx_hash"].lower(),
            )
            self.message_user(request, "Recorded the mint; the reward is rewarded.")
        else:
            self.message_user(
                request,
                "Nothing recorded: the reward is no longer verified.",
                messages.ERROR,
            )
        return None

    def _action_page(
        self, request: HttpRequest, template: str, *, action: str, **context: object
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "action": action,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "media": self.media,
                **context,
            },
        )

    def _report(
        self, request: HttpRequest, summary: str, skipped: Counter[str]
    ) -> None:
        if not skipped:
            self.message_user(request, summary, messages.SUCCESS)
            return
        reasons = ", ".join(f"{count} {why}" for why, count in skipped.most_common())
        self.message_user(
            request,
            f"{summary} Skipped {sum(skipped.values())}: {reasons}.",
            messages.WARNING,
        )
