"""One TLS context per process for the outside services we call (X, the minter):
loading the CA bundle costs milliseconds of CPU, so it is done once, not per
client or per request."""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def client_ssl_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's CAs, or SSL_CERT_FILE/SSL_CERT_DIR),
    shared by every client of the process. An SSLContext is safe to share between
    threads."""
    return httpx.create_ssl_context()
