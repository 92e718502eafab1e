"""Settings for benchmark runs: the product's production settings (DEBUG off), on the
benchmark's own database and Redis key prefix, plus the baseline views of
`bench.bench_urls`. Never used outside `bench/`."""

from __future__ import annotations

import base64
import os

from sandbox.testing import APP_BEARER_TOKEN, CLIENT_ID, CLIENT_SECRET, MINTER_SECRET

# Production mode, so the figures include what production runs (no debug query log,
# the cached template loader, the security middleware) and exclude what it does not.
os.environ["DEBUG"] = "0"
os.environ.pop("SANDBOX", None)
_defaults = {
    "SECRET_KEY": "bench-" + base64.urlsafe_b64encode(os.urandom(30)).decode(),
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "TOKEN_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
    # The app registration, app token and minter secret of the sandboxes bench.share
    # starts.
    "X_CLIENT_ID": CLIENT_ID,
    "X_CLIENT_SECRET": CLIENT_SECRET,
    "X_CALLBACK_URL": "http://127.0.0.1:8000/auth/x/callback",
    "X_BEARER_TOKEN": APP_BEARER_TOKEN,
    "BUX_MINTER_URL": "http://127.0.0.1:9/minter",
    "BUX_MINTER_SECRET": MINTER_SECRET,
    "EMAIL_URL": "consolemail://",
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "WARNING",
}
for _name, _value in _defaults.items():
    # Set in the environment, not only here: gunicorn workers started by the
    # benchmark must decrypt the tokens and sessions this process wrote.
    os.environ.setdefault(_name, _value)

from blockster.settings import *  # noqa: E402, F403
from blockster.settings import CACHES, REDIS_KEY_PREFIX  # noqa: E402

ROOT_URLCONF = "bench.bench_urls"
# Templates reference static files; without collectstatic's manifest the plain
# storage names them the same way.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The cache (sessions are in PostgreSQL; the rate limits are here) lives under the
# run's prefix, so the benchmark's cleanup removes it.
CACHES["default"]["KEY_PREFIX"] = REDIS_KEY_PREFIX + "cache"
# Mint tasks queued by the share flow stay in the web process (no worker runs and
# nothing is written to a shared broker); the share benchmark mints itself.
CELERY_BROKER_URL = "memory://"
