"""A production start's environment: DEBUG off, a test value for every secret."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-for-this-test-only",
    "ALLOWED_HOSTS": "blockster.example",
    "DATABASE_URL": "postgres://blockster@db.internal/blockster",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "TOKEN_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "X_CLIENT_ID": "client-id",
    "X_CLIENT_SECRET": "client-secret",
    "X_BEARER_TOKEN": "app-bearer-token",
    "X_CALLBACK_URL": "https://blockster.example/auth/x/callback",
    "BUX_MINTER_URL": "https://minter.internal",
    "BUX_MINTER_SECRET": "minter-secret",
    "EMAIL_URL": "smtp://mail.internal:25",
}


def production_environ(**overrides: str) -> dict[str, str]:
    """This process's environment (PATH and the like) with production's on top; the
    sandbox is never on in production."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in PRODUCTION_ENV and key != "SANDBOX"
    }
    return {**env, **PRODUCTION_ENV, **overrides}


def this_runs_database_url() -> str:
    """DATABASE_URL, pointed at the test database this process uses: for a process
    the test starts (a worker, gunicorn). Keeps the URL's form, so an embedded
    server's socket (`?host=/path`) is kept too."""
    from django.db import connection

    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))
