"""The Content-Security-Policy, and pages that need nothing it forbids. The browser
journeys (tests/e2e) fail on any violation; this checks the markup directly."""

from __future__ import annotations

import re

import pytest

# Inline script, inline style, inline event handlers: all refused by the policy.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>"
    r"|<style\b|\sstyle=|\son[a-z]+=",
    flags=re.IGNORECASE,
)


def test_every_page_carries_the_policy(client, db):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]

    directives = dict(
        (part.split(" ", 1) + [""])[:2] for part in policy.split("; ") if part
    )
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [
        ("/", False),
        ("/accounts/login/", False),
        ("/accounts/signup/", False),
        ("/", True),
        ("/settings/", True),  # with the X score's bars
        ("/admin/", True),
    ],
)
def test_pages_use_no_inline_script_or_style(client, staff, connect_x, path, signed_in):
    if signed_in:
        connect_x(staff, score=42)
        client.force_login(staff)

    response = client.get(path)

    assert response.status_code == 200
    assert INLINE.findall(response.content.decode()) == []
