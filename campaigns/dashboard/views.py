"""The dashboard and the CSV export, served by the campaign admin
(ShareCampaignAdmin.get_urls): staff who may view campaigns (as the export action
asks), GET only, nothing changes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone

from rewards.services.stats import SCORE_BANDS
from social.spend.prices import usd

from ..models import CampaignAlert, ShareCampaign, ShareReward
from .charts import Series, bars, cumulative_line, funnel, stacked_bars
from .export import csv_lines, export_filename
from .queries import MAX_PERIOD_DAYS, Dashboard, Period, build_dashboard

# The shares chart's outcomes, in stacking order: status -> series.
OUTCOMES = (
    (("rewarded",), Series("rewarded", "Minted", "s-rewarded")),
    (("verified",), Series("verified", "Awaiting mint", "s-verified")),
    (("pending", "shared"), Series("in_flight", "In flight", "s-flight")),
    (("undone",), Series("undone", "Undone on X", "s-undone")),
    (("failed",), Series("failed", "Failed", "s-failed")),
)
# The default period of the all-campaigns dashboard.
DEFAULT_DAYS = 7


class PeriodForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput({"type": "date"}))


def _period(request: HttpRequest, campaign: ShareCampaign | None) -> Period:
    today = timezone.now().date()
    form = PeriodForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    last = data.get("until") or today
    if data.get("since"):
        first = data["since"]
    elif campaign is not None:
        first = (campaign.starts_at or campaign.created_at).date()
    else:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    return Period(min(first, last), last).bounded()


def _label(moment: Any, bucket: str) -> str:
    return f"{moment:%b %d %H:00}" if bucket == "hour" else f"{moment:%b %d}"


def _charts(board: Dashboard) -> dict[str, Any]:
    period = board.period
    buckets = period.buckets
    labels = [_label(moment, period.bucket) for moment in buckets]
    stacks = []
    for moment in buckets:
        counts = board.shares.get(moment, {})
        stacks.append(
            {
                series.key: sum(counts.get(status, 0) for status in statuses)
                for statuses, series in OUTCOMES
            }
        )
    running, totals = board.minted_before, []
    for moment in buckets:
        running += board.minted.get(moment, Decimal("0"))
        totals.append(running)
    budget = board.campaign.bux_budget if board.campaign else None
    bands = [
        f"{n * 100 // SCORE_BANDS - 9}-{n * 100 // SCORE_BANDS}"
        for n in range(1, SCORE_BANDS + 1)
    ]
    band_counts = [board.score_bands.get(n, 0) for n in range(1, SCORE_BANDS + 1)]
    spend = [board.spend_by_bucket.get(moment, 0) / 1_000_000 for moment in buckets]
    steps = [
        ("Saw the campaign", board.box_views),
        ("Pressed Retweet & Like", board.presses),
        ("Confirmed shares", board.confirmed),
        ("Minted", board.rewarded),
    ]
    series = [one for _, one in OUTCOMES]
    return {
        "shares_chart": stacked_bars(labels, stacks, series),
        "shares_series": series,
        "shares_rows": [
            (label, [stack[one.key] for one in series], sum(stack.values()))
            for label, stack in zip(labels, stacks, strict=True)
            if sum(stack.values())
        ],
        "minted_chart": cumulative_line(labels, totals, limit=budget),
        "minted_rows": [
            (label, board.minted.get(moment, Decimal("0")), total)
            for label, moment, total in zip(labels, buckets, totals, strict=True)
            if board.minted.get(moment)
        ],
        "scores_chart": bars(bands, band_counts, css="s-score", unit="participants"),
        "score_rows": list(zip(bands, band_counts, strict=True)),
        "spend_chart": bars(labels, spend, css="s-spend", unit="USD"),
        "spend_rows": [
            (purpose, (requests, usd(cost)))
            for purpose, (requests, cost) in sorted(board.spend_by_purpose.items())
        ],
        "funnel": funnel(steps),
        "budget": budget,
    }


def dashboard_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, campaign_id: int | None = None
) -> HttpResponse:
    _may_view(model_admin, request)
    campaign = None
    if campaign_id is not None:
        campaign = get_object_or_404(
            ShareCampaign.objects.select_related("post"), pk=campaign_id
        )
    board = build_dashboard(campaign, _period(request, campaign))
    title = f"Dashboard: {campaign.post.title}" if campaign else "Campaigns dashboard"
    alerts = CampaignAlert.objects.all()
    if campaign is not None:
        alerts = alerts.filter(campaign=campaign)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "campaign": campaign,
        "board": board,
        "form": PeriodForm(
            initial={"since": board.period.first, "until": board.period.last}
        ),
        "max_days": MAX_PERIOD_DAYS,
        "alerts": alerts.select_related("campaign__post")[:20],
        "status_labels": dict(ShareReward.Status.choices),
        **_charts(board),
    }
    return TemplateResponse(
        request, "admin/campaigns/dashboard/dashboard.html", context
    )


def export_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, campaign_id: int
) -> StreamingHttpResponse:
    _may_view(model_admin, request)
    campaign = get_object_or_404(ShareCampaign, pk=campaign_id)
    return export_response(campaign)


def _may_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    """Staff without the campaigns' view permission see neither the figures nor the
    readers' e-mails."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied


def export_response(campaign: ShareCampaign) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(campaign), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="{export_filename(campaign)}"'
    )
    return response
