from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from blockster.proxy import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        """The address allauth's rate limits count against (see blockster.proxy)."""
        ip = client_ip(request)
        if ip is None:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def is_safe_url(self, url: str) -> bool:
        """Only a path on this site: an absolute URL, even to our own host, could
        name another scheme (http on an https site) or port."""
        return url_has_allowed_host_and_scheme(url, allowed_hosts=set())
