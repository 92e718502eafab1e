from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods

from rewards.selectors import (
    member_activity,
    member_totals,
    parse_as_of,
    wallet_balance,
)
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
    # The saved address: validating the form copies the typed one onto the user.
    wallet = request.user.wallet_address
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
    context = {
        "form": form,
        "next": safe_redirect_path(next_path) if next_path else "",
        "wallet": wallet,
        "balance": wallet_balance(wallet) if wallet else None,
    }
    return render(request, "accounts/settings.html", context)


def member_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    member = get_object_or_404(User, pk=user_id, is_active=True)
    activity = member_activity(
        member.pk,
        page=request.GET.get("page"),
        as_of=parse_as_of(request.GET.get("as_of")),
    )
    context = {
        "member": member,
        "is_owner": request.user.pk == member.pk,
        "activity": activity.page,
        "activity_as_of": activity.as_of,
        "totals": member_totals(member.pk),
        # The page says quietly that it lists X shares only for now.
        "activity_from_database": activity.from_database,
    }
    return render(request, "accounts/member_detail.html", context)
