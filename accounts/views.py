from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from rewards.mirror import UserActivity
from rewards.selectors import DatabaseActivity
from social.services import safe_redirect_path

from . import services
from .forms import ProfileForm
from .models import User


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request):
    # Where to return afterwards, e.g. the post whose reward waits for a wallet.
    next_path = request.POST.get("next") or request.GET.get("next") or ""
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        minting = services.update_profile(
            request.user,
            display_name=form.cleaned_data["display_name"],
            wallet_address=form.cleaned_data["wallet_address"],
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


def member_detail(request, user_id: int):
    member = get_object_or_404(User, pk=user_id, is_active=True)
    context = {"member": member, "is_owner": request.user.pk == member.pk}
    # The feed is read from the Redis mirror; if Redis is down, PostgreSQL answers
    # (X shares only) and the page says so quietly.
    page = request.GET.get("page")
    try:
        context["activity"] = Paginator(
            UserActivity(member.pk), ACTIVITY_PER_PAGE
        ).get_page(page)
    except RedisError:
        context["activity"] = Paginator(
            DatabaseActivity(member.pk), ACTIVITY_PER_PAGE
        ).get_page(page)
        context["activity_from_database"] = True
    return render(request, "accounts/member_detail.html", context)
