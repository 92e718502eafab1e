from __future__ import annotations

from typing import Any, TypedDict

from django import template
from django.template.context import Context

from accounts.models import User
from social.models import XConnection
from social.score import MAXIMA, next_calculation_at
from social.services import get_x_connection_for_user

register = template.Library()

LABELS = {
    "follower_quality": "Follower quality",
    "engagement": "Engagement",
    "age": "Account age",
    "activity": "Activity",
    "list": "List presence",
    "scale": "Follower scale",
}


class ScoreComponent(TypedDict):
    label: str
    value: float
    max: int


@register.inclusion_tag("social/x_connection_panel.html", takes_context=True)
def x_connection_panel(context: Context, member: User) -> dict[str, Any]:
    """The member's connected X account; its owner also sees the score's breakdown
    and the connect and disconnect buttons."""
    request = context["request"]
    is_owner = request.user.is_authenticated and request.user.pk == member.pk
    connection = get_x_connection_for_user(member)
    return {
        "member": member,
        "connection": connection,
        "is_owner": is_owner,
        "components": _components(connection) if is_owner and connection else [],
        "next_calculation": next_calculation_at(connection) if connection else None,
        "here": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }


def _components(connection: XConnection) -> list[ScoreComponent]:
    stored = connection.score_components or {}
    return [
        {
            "label": LABELS[name],
            "value": round(stored.get(name, 0), 1),
            "max": maximum,
        }
        for name, maximum in MAXIMA.items()
    ]
