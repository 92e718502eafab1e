"""Error reports of a crash in the OAuth callback never show the code or the state."""

from __future__ import annotations

import sys
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.core.signals import got_request_exception
from django.test import Client
from django.utils.module_loading import import_string

from social.x_api import XApiClient

pytestmark = pytest.mark.usefixtures("fast_retries")


class CrashInCallback(RuntimeError):
    pass


@pytest.fixture
def crashing_callback(owner, sandbox, settings):
    """A connect flow whose callback crashes after the code exchange; returns the
    callback path, the code and the state."""
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    start = client.get("/auth/x/authorize", {"redirect_to": "/welcome"})
    location = sandbox.authorize(start["Location"], account="reader")
    parts = urlsplit(location)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    with mock.patch.object(
        XApiClient,
        "get_me",
        autospec=True,
        side_effect=CrashInCallback("X answered something unexpected"),
    ):
        yield client, f"{parts.path}?{parts.query}", query["code"], query["state"]


def test_the_mail_to_admins_masks_the_code_and_the_state(crashing_callback):
    client, path, code, state = crashing_callback

    response = client.get(path, HTTP_REFERER=f"http://testserver{path}")

    assert response.status_code == 500
    assert len(mail.outbox) == 1
    report = mail.outbox[0]
    alternatives = getattr(report, "alternatives", [])
    everything = "\n".join(
        [str(report.subject), str(report.body), *(str(a[0]) for a in alternatives)]
    )
    assert "CrashInCallback" in report.body  # a useful report...
    assert "/auth/x/callback" in report.body
    assert "code=********************" in report.body
    assert code not in everything  # ...without the code
    assert state not in everything  # ...or the state


def test_every_section_of_a_report_masks_the_code_and_the_state(
    crashing_callback, settings
):
    client, path, code, state = crashing_callback
    reports: list[str] = []

    def render(sender, request, **kwargs):
        reporter_class = import_string(settings.DEFAULT_EXCEPTION_REPORTER)
        reporter = reporter_class(request, *sys.exc_info())
        reports.extend([reporter.get_traceback_text(), reporter.get_traceback_html()])

    got_request_exception.connect(render)
    try:
        client.get(
            path,
            HTTP_REFERER=f"http://testserver{path}",
            HTTP_X_ORIGINAL_URL=path,
        )
    finally:
        got_request_exception.disconnect(render)

    text, html = reports
    for report in (text, html):
        assert "CrashInCallback" in report
        assert "complete_x_connection" in report  # the frames are there
        assert code not in report
        assert state not in report
    assert "Request URL: http://testserver/auth/x/callback?state=*" in text
    assert "QUERY_STRING = 'state=********************&code=*" in text
