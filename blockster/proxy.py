"""What the proxies in front of the app tell it: which client a request came from.

Every request reaches the app from the last proxy's address. Each proxy that is ours
appends the address it was called from to X-Forwarded-For, so with
TRUSTED_PROXY_COUNT proxies the client is the entry that many places from the right.
Entries further left were written by the client itself and prove nothing.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, as our own proxies saw it; None when it is not an IP."""
    address = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.headers.get("X-Forwarded-For", "")
    if count > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        # Fewer entries than proxies: the request skipped an outer proxy, and every
        # entry there is was written by one of ours; the leftmost is the furthest.
        address = hops[-count] if len(hops) >= count else hops[0]
    return _valid_ip(address)


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
