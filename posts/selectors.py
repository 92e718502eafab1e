from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from accounts.models import User

from .models import Post


def published_posts() -> QuerySet[Post]:
    return Post.objects.filter(is_published=True).select_related("author")


def is_visible(post: Post, *, viewer: User | AnonymousUser) -> bool:
    return post.is_published or (viewer.is_authenticated and viewer.is_staff)


def get_visible_post(slug: str, *, viewer: User | AnonymousUser) -> Post | None:
    """The post if the viewer may read it: published, or a staff preview."""
    # The campaign rides along: the post page's share box needs it.
    posts = Post.objects.select_related("author", "share_campaign").prefetch_related(
        "share_campaign__tweets"
    )
    if not (viewer.is_authenticated and viewer.is_staff):
        posts = posts.filter(is_published=True)
    return posts.filter(slug=slug).first()
