from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedHttpRequest
from blockster.proxy import client_ip
from blockster.ratelimit import over_limit
from campaigns.services.confirm import resume_confirmations

from . import services
from .models import XOAuthState
from .tasks import schedule_score_calculation
from .x_api import XApiClient

EXPIRED = "OAuth session expired. Please try again."
# Where the browser session keeps the secret that binds its OAuth states to it.
BINDING_SESSION_KEY = "x_oauth_binding"
# Connect attempts a user may start per minute.
CONNECTS_PER_MINUTE = 10

_P = ParamSpec("_P")
_R = TypeVar("_R", bound=HttpResponseBase)


def _no_referrer(
    view: Callable[Concatenate[HttpRequest, _P], _R],
) -> Callable[Concatenate[HttpRequest, _P], _R]:
    """The callback URL carries the authorization code: never pass it on."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper


@login_required
@require_GET
def authorize(request: AuthenticatedHttpRequest) -> HttpResponse:
    if over_limit("x-connect", request.user.pk, limit=CONNECTS_PER_MINUTE):
        return render(
            request,
            "social/oauth_refused.html",
            {"message": "Too many attempts - please wait a minute and try again."},
            status=429,
        )
    oauth_state, challenge = services.create_oauth_state(
        request.user,
        redirect_to=request.GET.get("redirect_to", "/"),
        session_secret=_session_secret(request),
    )
    return redirect(
        XApiClient.from_settings().authorize_url(oauth_state.state, challenge)
    )


@require_GET
@_no_referrer
@sensitive_variables("code", "code_verifier", "oauth_state", "session_secret")
def callback(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        messages.error(request, "Please log in first, then connect your X account.")
        return redirect(
            f"{reverse('account_login')}?next={reverse('account_settings')}"
        )
    oauth_state = _state_for(request)
    if oauth_state is None:
        messages.error(request, EXPIRED)
        return redirect("account_settings")
    # Another user's state, or one started in another session of this user, is
    # refused and left for the session that started it.
    session_secret = request.session.get(BINDING_SESSION_KEY)
    if oauth_state.user_id != request.user.pk or not services.is_bound_to_session(
        oauth_state, session_secret
    ):
        return render(
            request, "social/oauth_refused.html", {"message": EXPIRED}, status=403
        )
    # Used up even when expired: a state is never tried twice.
    if not services.consume_oauth_state(oauth_state) or oauth_state.is_expired:
        messages.error(request, EXPIRED)
        return redirect("account_settings")
    # Checked again at use: a row changed after it was stored sends nobody elsewhere.
    target = services.safe_redirect_path(oauth_state.redirect_to)
    if error := request.GET.get("error"):
        reason = request.GET.get("error_description") or error
        messages.error(request, f"X authorization was denied: {reason}")
        return redirect(target)
    if not (code := request.GET.get("code")):
        messages.error(request, "Invalid OAuth callback")
        return redirect(target)
    if (code_verifier := services.get_code_verifier(oauth_state)) is None:
        messages.error(request, EXPIRED)
        return redirect(target)
    try:
        connection = services.complete_x_connection(
            request.user,
            code=code,
            code_verifier=code_verifier,
            ip=client_ip(request),
        )
    except (
        services.XConnectFailed,
        services.XAccountLocked,
        services.XAccountTaken,
    ) as failure:
        messages.error(request, failure.user_message)
        return redirect(target)
    schedule_score_calculation(connection)
    # Shares whose confirmation on X waited for this reconnect are looked for now.
    resume_confirmations(request.user.pk)
    messages.success(
        request, f"X account @{connection.x_username} connected successfully!"
    )
    return redirect(target)


def _session_secret(request: HttpRequest) -> str:
    secret = request.session.get(BINDING_SESSION_KEY)
    if not secret:
        secret = request.session[BINDING_SESSION_KEY] = services.new_session_secret()
    return secret


def _state_for(request: HttpRequest) -> XOAuthState | None:
    state = request.GET.get("state", "")
    return XOAuthState.objects.filter(state=state).first() if state else None


@login_required
@require_POST
def disconnect(request: AuthenticatedHttpRequest) -> HttpResponse:
    if services.disconnect_x_account(request.user, ip=client_ip(request)):
        messages.success(
            request,
            "Your X account was disconnected. You can reconnect the same X account "
            "at any time.",
        )
    else:
        messages.info(request, "No X account is connected.")
    next_path = request.POST.get("next") or reverse("account_settings")
    return redirect(services.safe_redirect_path(next_path))
