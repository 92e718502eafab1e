from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from rewards.mirror import UserActivity
from rewards.selectors import DatabaseActivity
from rewards.services import queue_rewards_waiting_for_wallet
from social.services import safe_redirect_path

from . import services
from .forms import ProfileForm
from .http import AuthenticatedHttpRequest
from .models import User


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    # Where to return afterwards, e.g. the post whose reward waits for a wallet.
    next_path = request.POST.get("next") or request.GET.get("next") or ""
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        wallet_added = services.update_profile(
            request.user,
            display_name=form.cleaned_data["display_name"],
            wallet_address=form.cleaned_data["wallet_address"],
        )
        minting = (
            queue_rewards_waiting_for_wallet(request.user.pk) if wallet_added else 0
        )
        messages.success(request, "Your settings were saved.")
        if minting:
            messages.success(
                request,
                f"{minting} waiting reward{pluralize(minting)} "
                f"{pluralize(minting, 'is,are')} now being minted to "
                f"{form.cleaned_data['wallet_address']}.",
            )
        if next_path:
            return redirect(safe_redirect_path(next_path))
        return redirect("account_settings")
    context = {"form": form, "next": safe_redirect_path(next_path) if next_path else ""}
    return render(request, "accounts/settings.html", context)


ACTIVITY_PER_PAGE = 20


def _activity_page(
    activity: UserActivity | DatabaseActivity, page: str | None
) -> Page[dict[str, Any]]:
    paginator: Paginator[dict[str, Any]] = Paginator(
        activity,  # type: ignore[arg-type]  # stub wants len(); Django takes count()
        ACTIVITY_PER_PAGE,
    )
    return paginator.get_page(page)


def member_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    member = get_object_or_404(User, pk=user_id, is_active=True)
    context: dict[str, Any] = {
        "member": member,
        "is_owner": request.user.pk == member.pk,
    }
    # The feed is read from the Redis mirror; if Redis is down, PostgreSQL answers
    # (X shares only) and the page says so quietly.
    page = request.GET.get("page")
    try:
        context["activity"] = _activity_page(UserActivity(member.pk), page)
    except RedisError:
        context["activity"] = _activity_page(DatabaseActivity(member.pk), page)
        context["activity_from_database"] = True
    return render(request, "accounts/member_detail.html", context)
