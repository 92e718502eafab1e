"""The connect flow's guards: the parts decided before X is called."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from social.models import XOAuthState
from social.services import (
    code_challenge_for,
    create_oauth_state,
    get_code_verifier,
    safe_redirect_path,
)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


def test_authorize_needs_a_login(client, db):
    response = client.get("/auth/x/authorize?redirect_to=/welcome")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not XOAuthState.objects.exists()


def test_authorize_redirects_to_x_with_a_stored_state_and_pkce(client, owner, settings):
    client.force_login(owner)

    response = client.get("/auth/x/authorize?redirect_to=/welcome-to-blockster")

    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert response["Location"].startswith(settings.X_AUTHORIZE_URL)
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    state = XOAuthState.objects.get(state=query["state"])
    assert state.user == owner
    assert state.redirect_to == "/welcome-to-blockster"
    verifier = get_code_verifier(state)
    assert verifier is not None
    assert query["code_challenge"] == code_challenge_for(verifier)
    assert query["code_challenge_method"] == "S256"
    assert 43 <= len(verifier) <= 128
    assert verifier.encode() not in bytes(state.code_verifier_encrypted)
    assert query["scope"].split() == settings.X_SCOPES


@pytest.mark.parametrize(
    "attempt",
    [
        "//evil.example/path",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\tevil",
        "",
        "relative/path",
    ],
)
def test_redirect_to_accepts_only_local_paths(client, owner, attempt):
    client.force_login(owner)

    client.get("/auth/x/authorize", {"redirect_to": attempt})

    assert XOAuthState.objects.get().redirect_to == "/"


def test_safe_redirect_path_keeps_local_paths_with_queries():
    assert safe_redirect_path("/post-slug?tab=share#box") == "/post-slug?tab=share#box"


def test_callback_without_login_asks_to_log_in(client, db):
    response = client.get("/auth/x/callback?code=abc&state=xyz")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "Please log in first" in messages_of(response)[0]


@pytest.mark.parametrize("state", ["", "forged-state-value"])
def test_callback_with_an_unknown_state_is_refused(client, owner, state):
    client.force_login(owner)

    response = client.get("/auth/x/callback", {"code": "abc", "state": state})

    assert response.status_code == 302
    assert messages_of(response) == ["OAuth session expired. Please try again."]


def test_callback_with_an_expired_state_is_refused_and_uses_it_up(
    client, owner, start_oauth
):
    oauth_state = start_oauth(client, owner)
    XOAuthState.objects.filter(pk=oauth_state.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = client.get(
        "/auth/x/callback", {"code": "abc", "state": oauth_state.state}
    )

    assert messages_of(response) == ["OAuth session expired. Please try again."]
    assert not XOAuthState.objects.filter(pk=oauth_state.pk).exists()


def test_callback_with_another_users_state_is_forbidden(
    client, owner, other_user, start_oauth
):
    oauth_state = start_oauth(Client(), owner)
    client.force_login(other_user)

    response = client.get(
        "/auth/x/callback", {"code": "abc", "state": oauth_state.state}
    )

    assert response.status_code == 403
    assert "OAuth session expired" in response.content.decode()
    # The owner's attempt is left alone.
    assert XOAuthState.objects.filter(pk=oauth_state.pk).exists()


def test_denied_consent_shows_the_reason_and_uses_the_state_up(
    client, owner, start_oauth
):
    oauth_state = start_oauth(client, owner, redirect_to="/welcome")

    response = client.get(
        "/auth/x/callback", {"error": "access_denied", "state": oauth_state.state}
    )

    assert response.status_code == 302
    assert response["Location"] == "/welcome"
    assert messages_of(response) == ["X authorization was denied: access_denied"]
    assert not XOAuthState.objects.exists()


@pytest.mark.parametrize(
    "tampered", ["//evil.example/steal", "https://evil.example/", "/\\evil.example"]
)
def test_a_tampered_return_path_is_checked_again_when_used(
    client, owner, start_oauth, tampered
):
    oauth_state = start_oauth(client, owner, redirect_to="/welcome")
    XOAuthState.objects.filter(pk=oauth_state.pk).update(redirect_to=tampered)

    response = client.get(
        "/auth/x/callback", {"error": "access_denied", "state": oauth_state.state}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_callback_without_code_or_error_is_invalid(client, owner, start_oauth):
    oauth_state = start_oauth(client, owner)

    response = client.get("/auth/x/callback", {"state": oauth_state.state})

    assert messages_of(response) == ["Invalid OAuth callback"]


def test_disconnect_is_post_only_with_csrf(owner, connection_factory):
    connection_factory(owner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    assert client.get("/auth/x/disconnect").status_code == 405
    assert client.post("/auth/x/disconnect").status_code == 403
    assert owner.x_connection is not None


def test_disconnect_removes_the_connection_but_keeps_the_lock(
    client, owner, connection_factory
):
    connection_factory(owner, x_user_id="1001")
    client.force_login(owner)

    response = client.post("/auth/x/disconnect", {"next": "//evil.example"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    owner.refresh_from_db()
    assert owner.locked_x_user_id == "1001"
    assert not hasattr(owner, "x_connection") or owner.x_connection is None


def test_purge_oauth_states_deletes_only_expired_ones(owner, expired_state, capsys):
    live, _ = create_oauth_state(owner, redirect_to="/", session_secret="s" * 43)

    call_command("purge_oauth_states")

    assert list(XOAuthState.objects.values_list("pk", flat=True)) == [live.pk]
    assert "deleted=1" in capsys.readouterr().out
