"""Admin for share rewards: read-only screens, and the operator's actions on
minting (retry, close as failed, record a mint found at the minter), each through
the minting services and into the security audit trail.

ShareReward is `campaigns`' model, so its admin URLs and templates are under
`campaigns/sharereward` (Django names them by the model's app label); the action
templates live in this app, in templates/admin/campaigns/sharereward/.
"""

from __future__ import annotations

from collections import Counter

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import IntegrityError, models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.models import SecurityEvent, User
from accounts.services import DetailValue, record_security_event
from blockster.proxy import client_ip
from campaigns.models import ShareCampaign, ShareReward

from .amounts import format_bux
from .explorer import short_tx, tx_url
from .forms import MarkFailedForm, RecordMintForm
from .services import mark_failed, mark_rewarded, retry_minting

RewardStatus = ShareReward.Status


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
    if reward.status == RewardStatus.SHARED:
        return "still being confirmed on X"
    if reward.status == RewardStatus.UNDONE:
        return "already rewarded (undone on X since)"
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
    "campaign_tweet",
    "x_connection",
    "status",
    "bux_rewarded",
    "retweet_id",
    "liked",
    "shared_at",
    "confirm_attempts",
    "retweet_post_id",
    "verified_at",
    "rewarded_at",
    "tx_hash",
    "audited_at",
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
        "tweet",
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
        ("audited_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("user__email", "=tx_hash", "=campaign_tweet__tweet_id")
    search_help_text = (
        "Search by reader email, full transaction hash or the shared post's id on X."
    )
    list_select_related = ("user", "campaign__post", "campaign_tweet")
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

    @admin.display(description="Post on X", ordering="campaign_tweet__position")
    def tweet(self, reward: ShareReward) -> str:
        tweet = reward.campaign_tweet
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            tweet.tweet_url,
            tweet.tweet_id,
        )

    @admin.display(description="BUX", ordering="bux_rewarded")
    def bux(self, reward: ShareReward) -> str:
        return format_bux(reward.bux_rewarded)

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
        summary = f"Queued {queued} reward{pluralize(queued)} for minting."
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
        self._report(
            request, f"Marked {closed} reward{pluralize(closed)} as failed.", skipped
        )
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
