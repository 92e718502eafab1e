from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from blockster.ratelimit import over_limit
from posts.selectors import is_visible

from .analytics import PRESSES, count_visitor, visitor_id
from .models import CampaignTweet, ShareCampaign
from .selectors import campaign_box
from .services.share import ShareOutcome, share_to_x

# Share attempts a reader may make per minute; each one costs X API requests.
SHARES_PER_MINUTE = 6

CHOOSE_A_TWEET = "Choose one of this campaign's posts to retweet."


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _render_box(
    request: HttpRequest,
    campaign: ShareCampaign,
    outcome: ShareOutcome | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    box = campaign_box(request.user, campaign.post, outcome=outcome)
    return render(
        request,
        "campaigns/campaign_box.html",
        {"box": box, "user": request.user},
        status=status,
    )


def _get_campaign_for_user(request: HttpRequest, campaign_id: int) -> ShareCampaign:
    """The campaign, if its post is one the user may see (drafts: staff only)."""
    campaign = get_object_or_404(
        ShareCampaign.objects.select_related("post").prefetch_related("tweets"),
        pk=campaign_id,
    )
    if not is_visible(campaign.post, viewer=request.user):
        raise Http404("No such campaign")
    return campaign


def _chosen_tweet(
    request: HttpRequest, campaign: ShareCampaign
) -> CampaignTweet | None:
    """The campaign's tweet the form names (`tweet`, its id), or the campaign's
    only tweet when the form names none; None when it names no tweet of this
    campaign."""
    tweets = list(campaign.tweets.all())
    chosen = request.POST.get("tweet", "").strip()
    if not chosen:
        return tweets[0] if len(tweets) == 1 else None
    return next((tweet for tweet in tweets if str(tweet.pk) == chosen), None)


@require_POST
def share(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _get_campaign_for_user(request, campaign_id)
    tweet = _chosen_tweet(request, campaign)
    if not request.user.is_authenticated:
        outcome, status = ShareOutcome(False, "Please log in to share"), 401
    elif tweet is None:
        outcome, status = ShareOutcome(False, CHOOSE_A_TWEET), 400
    elif over_limit("share", request.user.pk, limit=SHARES_PER_MINUTE):
        outcome, status = (
            ShareOutcome(
                False, "Too many attempts - please wait a minute", rate_limited=True
            ),
            429,
        )
    else:
        count_visitor(
            PRESSES, campaign.pk, visitor_id(request), day=timezone.now().date()
        )
        outcome, status = share_to_x(request.user, campaign, tweet=tweet), 200
    if _is_htmx(request):
        return _render_box(request, campaign, outcome, status=status)
    level = messages.SUCCESS if outcome.ok else messages.ERROR
    messages.add_message(request, level, outcome.message)
    if not request.user.is_authenticated:
        return redirect(f"/accounts/login/?next={campaign.post.get_absolute_url()}")
    return redirect(campaign.post.get_absolute_url())


@require_GET
def box(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The share box alone: htmx polls it while a mint is in progress."""
    campaign = _get_campaign_for_user(request, campaign_id)
    return _render_box(request, campaign)
