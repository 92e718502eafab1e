from __future__ import annotations

from django.utils import timezone

from .models import Post


def publish_post(post: Post) -> Post:
    """Publish a post, stamping `published_at` the first time."""
    post.is_published = True
    if post.published_at is None:
        post.published_at = timezone.now()
    post.save(update_fields=["is_published", "published_at", "updated_at"])
    return post
