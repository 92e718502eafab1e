"""How long a sign-in lasts: SESSION_IDLE_TIMEOUT without a request, and never more
than SESSION_ABSOLUTE_LIFETIME after signing in.

The store's own expiry (and the cookie's Max-Age) is SESSION_COOKIE_AGE, the idle
timeout, counted from the session's last save. Saving on every request would cost a
database write per page, so an active session is saved again only once a tenth of the
idle timeout has passed since its last save. The clock starts when the user signs in
(`start_lifetime`, saved with the sign-in itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponseBase

# {"user": the signed-in user's id, "since": sign-in time, "saved": last renewal}
LIFETIME_KEY = "_lifetime"
RENEW_FRACTION = 0.1


class SessionLifetimeMiddleware:
    """Between SessionMiddleware and AuthenticationMiddleware, so that a session
    ended here is anonymous for the rest of the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        session = request.session
        if session.get(SESSION_KEY) is not None:
            _end_or_renew(session, time.time())
        response = self.get_response(request)
        # A session signed in before these lifetimes existed starts its clock now.
        if request.session.get(SESSION_KEY) is not None:
            stamp = request.session.get(LIFETIME_KEY)
            if not stamp or stamp.get("user") != request.session[SESSION_KEY]:
                _start(request.session)
        return response


def start_lifetime(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """user_logged_in receiver (accounts.apps): every sign-in, through allauth, the
    admin or a test's force_login, starts a new lifetime."""
    if request is not None and hasattr(request, "session"):
        _start(request.session)


def _start(session: SessionBase) -> None:
    now = time.time()
    session[LIFETIME_KEY] = {"user": session[SESSION_KEY], "since": now, "saved": now}


def _end_or_renew(session: SessionBase, now: float) -> None:
    stamp = session.get(LIFETIME_KEY)
    if not stamp or stamp.get("user") != session[SESSION_KEY]:
        return
    idle = settings.SESSION_IDLE_TIMEOUT
    if (
        now - stamp["since"] >= settings.SESSION_ABSOLUTE_LIFETIME
        or now - stamp["saved"] >= idle
    ):
        session.flush()
    elif now - stamp["saved"] >= idle * RENEW_FRACTION:
        session[LIFETIME_KEY] = {**stamp, "saved": now}
