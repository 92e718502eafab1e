"""The product's URLs plus the post-page benchmark's baseline: a minimal view doing
one indexed query, served by the same gunicorn as the post page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from blockster.urls import urlpatterns as product_urlpatterns
from posts.models import Post


def baseline(request: HttpRequest, slug: str) -> HttpResponse:
    title = Post.objects.filter(slug=slug).values_list("title", flat=True).first()
    return HttpResponse(title or "", content_type="text/plain")


urlpatterns = [
    path("_bench/baseline/<slug:slug>", baseline),
    *product_urlpatterns,
]
