"""A production start's environment: DEBUG off, a test value for every secret."""

from __future__ import annotations

import os

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-for-this-test-only",
    "ALLOWED_HOSTS": "blockster.example",
    "DATABASE_URL": "postgres://blockster@db.internal/blockster",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "TOKEN_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "X_CLIENT_ID": "client-id",
    "X_CLIENT_SECRET": "client-secret",
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
