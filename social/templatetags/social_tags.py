from django import template

from social.services import get_x_connection_for_user

register = template.Library()


@register.inclusion_tag("social/x_connection_panel.html", takes_context=True)
def x_connection_panel(context, member):
    """The member's connected X account; connect and disconnect for its owner only."""
    request = context["request"]
    is_owner = request.user.is_authenticated and request.user.pk == member.pk
    return {
        "member": member,
        "connection": get_x_connection_for_user(member),
        "is_owner": is_owner,
        "here": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }
