"""gunicorn settings for the web process: `gunicorn --config gunicorn.conf.py
blockster.wsgi:application` (the Dockerfile's command). Command-line options and
GUNICORN_CMD_ARGS override them; docs/operations.md explains the proxy settings."""

import os
from typing import Any

from blockster.serving import RedactingLogger, drop_untrusted_forwarding_headers

bind = ["0.0.0.0:8000"]
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Threads, not one request per process: a share waits on X while its reader waits,
# and gunicorn's sync worker assumes requests that never block on an outside
# service. Few threads: the rest of a share is CPU, and more threads only share the
# GIL (docs/performance.md, "gunicorn's worker class"). Each thread holds its own
# PostgreSQL connection (CONN_MAX_AGE): workers x threads per web container.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# Only these peers may say, through X-Forwarded-Proto, that a request came over
# https, or pass X-Forwarded-For and the like: the proxies, never a client. Loopback
# by default; set FORWARDED_ALLOW_IPS to the proxies' addresses or networks.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
pre_request = drop_untrusted_forwarding_headers

# The access log on stdout, with the OAuth callback's code and state masked.
accesslog = "-"
logger_class = RedactingLogger
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
)


def post_worker_init(worker: Any) -> None:
    """Each worker builds its X and minter clients (connection pools, the TLS
    context) once it has loaded the app, before its first request, instead of
    inside the first share or mint it serves."""
    from rewards.minter import MinterClient
    from social.x_api import XApiClient

    try:
        XApiClient.from_settings()
        MinterClient.from_settings()
    except Exception as error:  # noqa: BLE001 - a warm-up never stops a worker
        worker.log.warning("clients not built ahead (%s)", type(error).__name__)
