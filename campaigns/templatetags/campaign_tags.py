from __future__ import annotations

from typing import Any

from django import template
from django.template.context import Context
from django.utils import timezone

from campaigns.analytics import BOX_VIEWS, count_visitor, visitor_id
from campaigns.selectors import campaign_box as build_campaign_box
from posts.models import Post

register = template.Library()


@register.inclusion_tag("campaigns/campaign_box.html", takes_context=True)
def campaign_box(context: Context, post: Post) -> dict[str, Any]:
    request = context["request"]
    box = build_campaign_box(request.user, post)
    if box.campaign is not None:
        count_visitor(
            BOX_VIEWS, box.campaign.pk, visitor_id(request), day=timezone.now().date()
        )
    return {
        "box": box,
        "user": request.user,
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
