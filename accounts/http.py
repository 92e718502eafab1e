from __future__ import annotations

from django.http import HttpRequest

from .models import User


class AuthenticatedHttpRequest(HttpRequest):
    """What a @login_required view receives: `user` is a signed-in User."""

    user: User
