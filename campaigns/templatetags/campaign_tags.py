from django import template

from campaigns.selectors import campaign_box as build_campaign_box

register = template.Library()


@register.inclusion_tag("campaigns/campaign_box.html", takes_context=True)
def campaign_box(context, post):
    request = context["request"]
    return {
        "box": build_campaign_box(request.user, post),
        "user": request.user,
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
