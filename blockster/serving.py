"""gunicorn's side of the web process (gunicorn.conf.py): its logs go through our
redaction, and forwarding headers count only from the proxies it trusts.

Loaded by the gunicorn master before Django is set up: nothing here reads settings.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from gunicorn.glogging import Logger

from .observability import redact

# Headers a proxy sets about the client; from anyone else they are a client's claim.
FORWARDING_HEADERS = frozenset(
    {
        "FORWARDED",
        "X-FORWARDED-FOR",
        "X-FORWARDED-HOST",
        "X-FORWARDED-PORT",
        "X-FORWARDED-PROTO",
        "X-FORWARDED-PROTOCOL",
        "X-FORWARDED-SSL",
        "X-REAL-IP",
    }
)


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingLogger(Logger):
    """gunicorn's error and access logs, with the OAuth callback's code and state (and
    anything shaped like a credential) masked: an access line carries the query string
    and the referer."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, _Redact) for existing in log.filters):
                log.addFilter(_Redact())


def drop_untrusted_forwarding_headers(worker: Any, req: Any) -> None:
    """gunicorn's pre_request hook: a request from a peer outside forwarded_allow_ips
    reaches Django without forwarding headers, so no setting can believe them.

    (gunicorn itself already takes the scheme only from trusted peers.)
    """
    if not trusted_peer(req.peer_addr, worker.cfg.forwarded_allow_ips):
        req.headers = [
            (name, value)
            for name, value in req.headers
            if name.upper() not in FORWARDING_HEADERS
        ]


def trusted_peer(peer: Any, allowed: list[str]) -> bool:
    """gunicorn's rule: a listed address or network, `*`, or a Unix socket."""
    if not isinstance(peer, tuple) or "*" in allowed:
        return True
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return False
    # A socket bound to [::] sees an IPv4 proxy as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(
        address in ipaddress.ip_network(entry, strict=False) for entry in allowed
    )
