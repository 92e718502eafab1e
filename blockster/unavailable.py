"""503 "try again in a moment" while a backing service is out, instead of a 500.

PostgreSQL restarting (a deploy, a failover) ends the connections of requests in
flight and refuses new ones for a few seconds. Those requests answer 503 with
`Retry-After`, so readers and load balancers know it is passing: a page for a page,
the campaign box (refreshing itself) for its htmx requests. The same goes for a
Redis connection error that nothing on the way caught: what has a fallback (sessions,
the feed, rate limits) uses it, what has none (allauth's sign-in limits, which fail
closed) answers this. Any other error, an IntegrityError included, is a bug and
stays a 500.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import psycopg
import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers
from django.views import defaults

logger = logging.getLogger(__name__)

# A fast PostgreSQL restart takes a few seconds; the 503 page and the campaign box
# say to come back after this long.
RETRY_AFTER_SECONDS = 5

# PostgreSQL errors that mean "the server is going away or not there yet" (SQLSTATE
# classes): 08 connection exception, 53 insufficient resources (too many
# connections), 57 operator intervention (admin or crash shutdown, starting up),
# except 57014, a cancelled statement.
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57")
_NOT_AN_OUTAGE = ("57014",)

_OUTAGES = (
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def is_outage(error: BaseException | None) -> bool:
    if isinstance(error, _OUTAGES):
        return True
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if not isinstance(cause, psycopg.Error):
        return False
    state = cause.sqlstate
    # No SQLSTATE: the client's own verdict (refused, reset, closed) on the link.
    return state is None or (
        state[:2] in _OUTAGE_SQLSTATE_CLASSES and state not in _NOT_AN_OUTAGE
    )


def _box_url(request: HttpRequest) -> str | None:
    """The campaign box to refresh, for an htmx request from that box."""
    match = request.resolver_match
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
    if match.url_name not in ("campaign_share", "campaign_box"):
        return None
    return reverse("campaign_box", kwargs={"campaign_id": match.kwargs["campaign_id"]})


def unavailable_response(request: HttpRequest) -> HttpResponse:
    # Rendered without the request: its context processors would read the session
    # and the user, which may be what is down.
    context: dict[str, object] = {"retry_after": RETRY_AFTER_SECONDS}
    if request.method == "GET":
        context["retry_url"] = request.get_full_path()
    if request.headers.get("HX-Request") == "true":
        context["box_url"] = _box_url(request)
        template = "unavailable_fragment.html"
    else:
        template = "503.html"
    response = HttpResponse(render_to_string(template, context), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response


class ServiceUnavailableMiddleware:
    """Turns an outage raised by a view (or its template) into the 503 answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not is_outage(exception):
            return None
        logger.warning(
            "%s %s answered 503: %s", request.method, request.path, _describe(exception)
        )
        return unavailable_response(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage raised outside a view (a middleware saving the session)
    answers 503 too; anything else is Django's 500 page."""
    if is_outage(sys.exc_info()[1]):
        return unavailable_response(request)
    return defaults.server_error(request)


def _describe(error: Exception) -> str:
    # The type and SQLSTATE only: messages can name hosts and users.
    cause = error.__cause__
    state = getattr(cause, "sqlstate", None)
    return type(cause or error).__name__ + (f" ({state})" if state else "")
