"""Which client a request came from, behind TRUSTED_PROXY_COUNT proxies."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from accounts.adapter import AccountAdapter
from blockster.proxy import client_ip

PROXY = "10.0.0.2"


def request_from(remote_addr: str, forwarded_for: str | None = None):
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr)
    if forwarded_for is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return request


@pytest.mark.parametrize(
    ("count", "forwarded_for", "expected"),
    [
        # No proxy trusted: X-Forwarded-For is the client's own claim.
        (0, None, PROXY),
        (0, "198.51.100.1", PROXY),
        # One proxy: the entry it appended, whatever the client put before it.
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "203.0.113.9, 198.51.100.1", "198.51.100.1"),
        (1, "203.0.113.9,198.51.100.1", "198.51.100.1"),
        (1, None, PROXY),
        # Two proxies (a CDN, then ours): the entry the outer one appended.
        (2, "203.0.113.9, 198.51.100.1, 192.0.2.50", "198.51.100.1"),
        # Fewer entries than proxies: the outer proxy was skipped; the leftmost entry
        # there is was still written by one of ours.
        (2, "198.51.100.1", "198.51.100.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_is_the_entry_our_outermost_proxy_appended(
    settings, count, forwarded_for, expected
):
    settings.TRUSTED_PROXY_COUNT = count

    assert client_ip(request_from(PROXY, forwarded_for)) == expected


def test_a_forwarded_entry_that_is_not_an_address_gives_none(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip(request_from(PROXY, "unknown")) is None


def test_allauths_rate_limits_count_against_the_same_address(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = request_from(PROXY, "203.0.113.9, 198.51.100.1")

    assert AccountAdapter(request).get_client_ip(request) == "198.51.100.1"
