from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns.selectors import open_campaign_rewards

from . import selectors


def home(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.published_posts(), 20).get_page(request.GET.get("page"))
    earn = open_campaign_rewards(page.object_list)
    rows = [(post, earn.get(post.pk)) for post in page]
    return render(request, "posts/home.html", {"page": page, "rows": rows})


def post_detail(request: HttpRequest, slug: str) -> HttpResponse:
    post = selectors.get_visible_post(slug, viewer=request.user)
    if post is None:
        raise Http404("No such post")
    return render(request, "posts/post_detail.html", {"post": post})
