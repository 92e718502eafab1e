"""Production hardening: deploy checks, headers, secrets kept out of reports, logs."""

from __future__ import annotations

import logging
import sys

import httpx
import pytest
import respx
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from blockster.observability import ContextFilter, JsonFormatter, redact
from social.x_api import XApiClient, XTransportError

TOKEN = "tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def test_the_oauth_callback_sends_no_referrer(client, owner, start_oauth):
    oauth_state = start_oauth(client, owner)

    response = client.get(
        "/auth/x/callback", {"state": oauth_state.state, "error": "access_denied"}
    )

    assert response["Referrer-Policy"] == "no-referrer"


def test_a_foreign_host_is_refused(client, settings, db):
    settings.ALLOWED_HOSTS = ["blockster.example"]

    assert client.get("/", HTTP_HOST="evil.example").status_code == 400
    assert client.get("/", HTTP_HOST="blockster.example").status_code == 200


def test_connect_attempts_are_rate_limited_without_side_effects(client, owner):
    from social.models import XOAuthState

    client.force_login(owner)
    for _ in range(10):
        assert client.get("/auth/x/authorize").status_code == 302

    response = client.get("/auth/x/authorize")

    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert XOAuthState.objects.count() == 10


def test_every_response_carries_a_request_id(client, db):
    first = client.get("/healthz")
    echoed = client.get("/healthz", HTTP_X_REQUEST_ID="proxy-id-123")
    refused = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert len(first["X-Request-ID"]) == 32
    assert echoed["X-Request-ID"] == "proxy-id-123"
    assert refused["X-Request-ID"] != "bad id\nwith newline"


def test_error_reports_hide_tokens_and_connection_urls(settings):
    client = XApiClient(
        api_base="https://api.x.test/2",
        authorize_endpoint="https://x.test/authorize",
        client_id="id",
        client_secret="client-secret-value",
        callback_url="https://b.test/cb",
        scopes=(),
        retry_delays=(),
    )
    settings.DATABASES["default"]["PASSWORD"] = "db-password-value"
    settings.CELERY_BROKER_URL = "redis://:broker-password@cache.internal:6379/0"
    request = RequestFactory().get("/")
    with respx.mock(base_url="https://api.x.test/2") as x:
        x.get("/users/me").mock(side_effect=httpx.ConnectError("refused"))
        try:
            client.get_me(TOKEN)
        except XTransportError:
            report = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()

    assert "get_me" in report  # the frames are there...
    for secret in (
        TOKEN,
        "client-secret-value",
        "db-password-value",
        "broker-password",
    ):
        assert secret not in report  # ...without the secrets


@pytest.mark.parametrize(
    "message",
    [
        f"Authorization: Bearer {TOKEN}",
        f"body access_token={TOKEN}&x=1",
        f'{{"refresh_token": "{TOKEN}"}}',
        f"code_verifier={TOKEN}",
    ],
)
def test_logs_redact_anything_shaped_like_a_credential(message):
    assert TOKEN not in redact(message)


def test_json_logs_carry_the_request_id_and_never_a_token():
    record = logging.LogRecord(
        "social", logging.INFO, __file__, 1, "sent %s", (f"Bearer {TOKEN}",), None
    )
    ContextFilter().filter(record)

    line = JsonFormatter().format(record)

    assert '"request_id": "-"' in line
    assert TOKEN not in line and "[redacted]" in line
