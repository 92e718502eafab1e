"""The security audit trail: what is recorded, and the read-only admin that shows it."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import SecurityEvent
from accounts.services import record_security_event
from social.models import XConnection
from social.services import XReconnectRequired, maybe_refresh_token
from social.x_api import XUnavailable
from tests.social.test_connect_flow import connect, last_message

Kind = SecurityEvent.Kind
EVENTS_URL = "/admin/accounts/securityevent/"

pytestmark = pytest.mark.usefixtures("fast_retries")


def events(kind: SecurityEvent.Kind) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(kind=kind).order_by("pk"))


def the_event(kind: SecurityEvent.Kind) -> SecurityEvent:
    recorded = events(kind)
    assert len(recorded) == 1, recorded
    return recorded[0]


def test_a_connect_is_recorded_with_the_account_and_the_address(client, owner, sandbox):
    client.force_login(owner)

    connect(client, sandbox, "reader")

    event = the_event(Kind.X_CONNECTED)
    reader = sandbox.account("reader")
    assert (event.user, event.actor, event.ip) == (owner, owner, "127.0.0.1")
    assert event.detail == {"x_user_id": reader["id"], "x_username": reader["username"]}


def test_linking_an_account_held_by_another_user_is_refused_and_recorded(
    client, owner, other_user, sandbox
):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    client.force_login(other_user)

    response = connect(client, sandbox, "reader")

    assert "already connected to another account" in last_message(response)
    event = the_event(Kind.X_LINK_REFUSED_TAKEN)
    assert (event.user, event.actor, event.ip) == (other_user, other_user, "127.0.0.1")
    assert event.detail["x_user_id"] == sandbox.account("reader")["id"]
    assert event.detail["held_by_user_id"] == owner.pk


def test_linking_a_second_account_to_a_locked_user_is_refused_and_recorded(
    client, owner, sandbox
):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    client.post("/auth/x/disconnect")

    response = connect(client, sandbox, "creator")

    assert "locked to a different X account" in last_message(response)
    event = the_event(Kind.X_LINK_REFUSED_LOCKED)
    assert (event.user, event.actor) == (owner, owner)
    assert event.detail == {
        "x_user_id": sandbox.account("creator")["id"],
        "x_username": sandbox.account("creator")["username"],
        "locked_x_user_id": sandbox.account("reader")["id"],
    }


def test_a_disconnect_is_recorded(client, owner, sandbox):
    client.force_login(owner)
    connect(client, sandbox, "reader")

    client.post("/auth/x/disconnect")

    event = the_event(Kind.X_DISCONNECTED)
    assert (event.user, event.actor, event.ip) == (owner, owner, "127.0.0.1")
    assert event.detail == {"x_user_id": sandbox.account("reader")["id"]}


def _due_for_refresh(user) -> XConnection:
    XConnection.objects.filter(user=user).update(
        token_expires_at=timezone.now() + timedelta(minutes=5)
    )
    return XConnection.objects.get(user=user)


def test_a_refused_refresh_records_the_failure_and_the_reconnect_prompt(
    client, owner, sandbox
):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    connection = _due_for_refresh(owner)
    sandbox.revoke_tokens("reader", kind="refresh")

    with pytest.raises(XReconnectRequired):
        maybe_refresh_token(connection)

    x_user_id = sandbox.account("reader")["id"]
    failed = the_event(Kind.X_REFRESH_FAILED)
    assert (failed.user, failed.actor, failed.ip) == (owner, None, None)
    assert failed.detail == {
        "x_user_id": x_user_id,
        "error": "XOAuthError",
        "connection_kept": False,
    }
    prompt = the_event(Kind.X_RECONNECT_REQUIRED)
    assert prompt.user == owner
    assert prompt.detail == {"reason": "refresh_refused", "x_user_id": x_user_id}
    assert not events(Kind.X_DISCONNECTED)  # the reader did not disconnect


def test_a_transient_refresh_failure_is_recorded_and_keeps_the_connection(
    client, owner, sandbox
):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    connection = _due_for_refresh(owner)
    sandbox.fault("POST /2/oauth2/token", status=503)

    with pytest.raises(XUnavailable):
        maybe_refresh_token(connection)

    assert the_event(Kind.X_REFRESH_FAILED).detail["connection_kept"] is True
    assert not events(Kind.X_RECONNECT_REQUIRED)
    assert XConnection.objects.filter(user=owner).exists()


def test_a_key_rotation_is_recorded_with_its_counts(settings, owner, sandbox, client):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    new_key = "k2:" + base64.b64encode(b"k" * 32).decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, *settings.TOKEN_ENCRYPTION_KEYS]

    call_command("rotate_token_keys")

    event = the_event(Kind.TOKEN_KEYS_ROTATED)
    assert (event.user, event.actor) == (None, None)
    assert event.detail == {
        "primary_key_id": "k2",
        "total": 1,
        "rotated": 1,
        "unchanged": 0,
        "errors": 0,
    }


@pytest.mark.parametrize(
    "detail", [{"refresh_token": "x"}, {"code": "x"}, {"client_secret": "x"}]
)
def test_the_trail_refuses_details_named_like_credentials(owner, detail):
    with pytest.raises(ValueError, match="looks like a credential"):
        record_security_event(Kind.X_CONNECTED, user=owner, detail=detail)

    assert not SecurityEvent.objects.exists()


# --- Admin ----------------------------------------------------------------------------


@pytest.fixture
def trail(owner, other_user, staff):
    return {
        "connect": record_security_event(
            Kind.X_CONNECTED, user=owner, actor=owner, detail={"x_user_id": "1"}
        ),
        "refused": record_security_event(
            Kind.X_LINK_REFUSED_TAKEN,
            user=other_user,
            actor=other_user,
            ip="203.0.113.7",
            detail={"x_user_id": "1", "held_by_user_id": owner.pk},
        ),
        "retry": record_security_event(
            Kind.MINT_RETRIED, user=owner, actor=staff, detail={"reward_id": 9}
        ),
    }


def test_the_admin_lists_the_trail_and_filters_it_by_kind_and_user(
    client, staff, owner, other_user, trail, page_text
):
    client.force_login(staff)

    everything = page_text(client.get(EVENTS_URL))
    refused = page_text(
        client.get(EVENTS_URL, {"kind__exact": Kind.X_LINK_REFUSED_TAKEN})
    )
    owners = page_text(client.get(EVENTS_URL, {"user": owner.pk}))
    searched = page_text(client.get(EVENTS_URL, {"q": "other@example.com"}))

    assert "3 security events" in everything
    assert "X link refused: the X account belongs to another user" in everything
    assert "203.0.113.7" in everything
    assert "1 security event" in refused and "other@example.com" in refused
    assert "2 security events" in owners
    assert "X account connected" in owners and "Operator: retry minting" in owners
    assert "1 security event" in searched


def test_the_trail_is_read_only_in_the_admin(client, staff, trail):
    client.force_login(staff)
    event = trail["connect"]
    change_url = f"{EVENTS_URL}{event.pk}/change/"

    assert client.get(f"{EVENTS_URL}add/").status_code == 403
    assert client.get(f"{EVENTS_URL}{event.pk}/delete/").status_code == 403
    page = client.get(change_url)
    assert page.status_code == 200  # viewable...
    assert 'name="detail"' not in page.content.decode()  # ...with nothing to edit
    client.post(change_url, {"kind": Kind.X_DISCONNECTED, "detail": "{}"})
    client.post(
        EVENTS_URL,
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    event.refresh_from_db()
    assert (event.kind, event.detail) == (Kind.X_CONNECTED, {"x_user_id": "1"})
    assert "delete_selected" not in client.get(EVENTS_URL).content.decode()


def test_the_trail_is_for_staff_only(client, owner, trail):
    client.force_login(owner)

    response = client.get(EVENTS_URL)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
