from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from .redis_client import get_redis

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    get_redis().ping()


def _check_broker() -> None:
    timeout = settings.REDIS_SOCKET_TIMEOUT
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout) as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)


CHECKS = {"database": _check_database, "redis": _check_redis, "broker": _check_broker}


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Reachability of each backing service; 503 names the parts that are down."""
    report: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # any failure means "down"; the kind is logged
            logger.warning("health check %s failed: %s", name, type(error).__name__)
            report[name] = "unavailable"
        else:
            report[name] = "ok"
    healthy = all(value == "ok" for value in report.values())
    return JsonResponse(report, status=200 if healthy else 503)


@require_GET
@cache_control(public=True, max_age=24 * 3600)
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico where a page names no icon (the admin, a file)."""
    return HttpResponseRedirect(static("favicon.ico"))
