"""The connect flow end to end: Django's test client and the sandbox over real HTTP."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from social.crypto import decrypt_token
from social.models import XConnection, XOAuthState
from social.services import (
    XAccountTaken,
    XReconnectRequired,
    get_access_token,
    maybe_refresh_token,
    upsert_x_connection,
)
from social.x_api import TokenSet, XApiClient, XUnauthorized, XUser

pytestmark = pytest.mark.usefixtures("fast_retries")


def last_message(response) -> str:
    """The newest flash message (earlier requests may have queued others)."""
    return [str(message) for message in response.wsgi_request._messages][-1]


def start(client, redirect_to="/welcome-to-blockster") -> str:
    response = client.get("/auth/x/authorize", {"redirect_to": redirect_to})
    assert response.status_code == 302
    return response["Location"]


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/auth/x/callback"
    return f"{parts.path}?{parts.query}"


def connect(client, sandbox, account="reader", redirect_to="/welcome-to-blockster"):
    location = sandbox.authorize(start(client, redirect_to), account=account)
    return client.get(callback_path(location))


def token_calls(sandbox) -> int:
    routes = sandbox.requests()["by_route"]
    return sum(v["requests"] for k, v in routes.items() if k.endswith("/oauth2/token"))


def test_the_whole_connect_flow(client, owner, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(owner)

    response = connect(client, sandbox, "reader")

    reader = sandbox.account("reader")
    assert response.status_code == 302
    assert response["Location"] == "/welcome-to-blockster"
    assert last_message(response) == (
        f"X account @{reader['username']} connected successfully!"
    )
    connection = XConnection.objects.get(user=owner)
    assert connection.x_user_id == reader["id"]
    assert connection.x_username == reader["username"]
    assert connection.token_expires_at > timezone.now() + timedelta(minutes=100)
    assert "offline.access" in connection.scopes
    owner.refresh_from_db()
    assert owner.locked_x_user_id == reader["id"]
    assert not XOAuthState.objects.exists()
    # The stored token works at X.
    me = XApiClient.from_settings().get_me(get_access_token(connection))
    assert me.id == reader["id"]
    # And it never shows up in our logs.
    assert get_access_token(connection) not in caplog.text


def test_a_replayed_callback_is_refused_and_the_code_exchanged_once(
    client, owner, sandbox
):
    client.force_login(owner)
    location = sandbox.authorize(start(client), account="reader")
    client.get(callback_path(location))

    replay = client.get(callback_path(location))

    assert last_message(replay) == "OAuth session expired. Please try again."
    assert token_calls(sandbox) == 1


def test_a_state_only_finishes_in_the_session_that_started_it(owner, sandbox):
    first, second = Client(), Client()
    first.force_login(owner)
    second.force_login(owner)  # the same reader in another browser session
    location = sandbox.authorize(start(first), account="reader")

    refused = second.get(callback_path(location))

    assert refused.status_code == 403
    assert not XConnection.objects.exists()
    finished = first.get(callback_path(location))
    assert "connected successfully" in last_message(finished)
    assert XConnection.objects.filter(user=owner).exists()


def test_cancel_on_the_consent_page_shows_the_denial(client, owner, sandbox):
    client.force_login(owner)
    location = sandbox.authorize(start(client), account="reader", cancel=True)

    response = client.get(callback_path(location))

    assert last_message(response) == "X authorization was denied: access_denied"
    assert not XConnection.objects.exists()


def test_an_expired_code_gives_a_clear_failure(client, owner, sandbox):
    client.force_login(owner)
    location = sandbox.authorize(start(client), account="reader")
    sandbox.advance_clock(31)

    response = client.get(callback_path(location))

    message = last_message(response)
    assert message.startswith("Failed to connect X account: ")
    assert "authorization code was invalid" in message
    assert not XConnection.objects.exists()


def test_x_failing_during_the_exchange_is_reported_and_not_retried(
    client, owner, sandbox
):
    client.force_login(owner)
    location = sandbox.authorize(start(client), account="reader")
    sandbox.fault("POST /2/oauth2/token", status=503)

    response = client.get(callback_path(location))

    assert last_message(response) == (
        "Failed to connect X account: X is unavailable right now - please try again "
        "later"
    )
    assert token_calls(sandbox) == 1


def test_a_failed_profile_fetch_is_reported(client, owner, sandbox):
    client.force_login(owner)
    location = sandbox.authorize(start(client), account="reader")
    sandbox.fault("GET /2/users/me", status=503, times=None)

    response = client.get(callback_path(location))

    assert last_message(response) == "Failed to get your X profile information"
    assert not XConnection.objects.exists()


def test_reconnecting_the_same_account_updates_the_tokens(client, owner, sandbox):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    first = XConnection.objects.get(user=owner)
    first_token = get_access_token(first)

    response = connect(client, sandbox, "reader")

    assert "connected successfully" in last_message(response)
    second = XConnection.objects.get(user=owner)
    assert second.pk == first.pk
    assert get_access_token(second) != first_token


def test_a_user_stays_locked_to_their_first_x_account(client, owner, sandbox):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    client.post("/auth/x/disconnect")

    response = connect(client, sandbox, "creator")

    assert last_message(response) == (
        "Your account is locked to a different X account. You can only connect the X "
        "account you originally linked."
    )
    assert not XConnection.objects.filter(user=owner).exists()
    owner.refresh_from_db()
    assert owner.locked_x_user_id == sandbox.account("reader")["id"]
    # The tokens issued for the refused account were handed back to X.
    creator_id = sandbox.account("creator")["id"]
    creator_tokens = [t for t in sandbox.tokens() if t["user_id"] == creator_id]
    assert creator_tokens and all(t["revoked"] for t in creator_tokens)


def test_an_x_account_links_to_one_user_only(client, owner, other_user, sandbox):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    client.post("/auth/x/disconnect")  # the lock on owner stays
    client.force_login(other_user)

    response = connect(client, sandbox, "reader")

    username = sandbox.account("reader")["username"]
    assert last_message(response) == (
        f"This X account (@{username}) is already connected to another account. "
        "Each X account can only be linked to one account."
    )
    other_user.refresh_from_db()
    assert other_user.locked_x_user_id is None


@pytest.mark.django_db(transaction=True)
def test_two_users_racing_for_one_x_account_get_one_connection(user_factory):
    users = [user_factory() for _ in range(2)]
    profile = XUser(id="5550001", username="contested")
    tokens = TokenSet("access", "refresh", 7200, ("tweet.read",))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(user):
        barrier.wait()
        try:
            upsert_x_connection(user, profile=profile, tokens=tokens)
            outcomes.append("connected")
        except XAccountTaken:
            outcomes.append("taken")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["connected", "taken"]
    assert XConnection.objects.filter(x_user_id="5550001").count() == 1


def make_due_for_refresh(connection: XConnection) -> XConnection:
    XConnection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=30)
    )
    return XConnection.objects.get(pk=connection.pk)


def test_a_token_close_to_expiry_is_refreshed_and_rotated(client, owner, sandbox):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    connection = make_due_for_refresh(XConnection.objects.get(user=owner))
    old_access = get_access_token(connection)

    refreshed = maybe_refresh_token(connection)

    assert refreshed.token_expires_at > timezone.now() + timedelta(minutes=100)
    new_access = get_access_token(refreshed)
    assert new_access != old_access
    assert XApiClient.from_settings().get_me(new_access).username
    stored = XConnection.objects.get(pk=connection.pk)
    assert get_access_token(stored) == new_access
    assert token_calls(sandbox) == 2  # the exchange and one refresh


def test_a_fresh_token_is_not_refreshed(client, owner, sandbox):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    connection = XConnection.objects.get(user=owner)

    assert maybe_refresh_token(connection).pk == connection.pk
    assert token_calls(sandbox) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_reach_x_once_and_both_get_a_working_token(
    client, user_factory, sandbox
):
    user = user_factory()
    client.force_login(user)
    connect(client, sandbox, "reader")
    connection = make_due_for_refresh(XConnection.objects.get(user=user))
    barrier = threading.Barrier(2)
    tokens: list[str] = []

    def worker():
        barrier.wait()
        try:
            stale = XConnection.objects.get(pk=connection.pk)
            tokens.append(get_access_token(maybe_refresh_token(stale)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert token_calls(sandbox) == 2  # the exchange and exactly one refresh
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    # The sandbox revokes a grant whose rotated refresh token comes back: the
    # connection stays valid only because the second worker never sent it again.
    stored = XConnection.objects.get(pk=connection.pk)
    assert get_access_token(stored) == tokens[0]
    assert XApiClient.from_settings().get_me(tokens[0]).username
    assert not any(t["revoked"] for t in sandbox.tokens())


def test_a_refresh_token_spent_elsewhere_revokes_the_grant_and_asks_to_reconnect(
    client, owner, sandbox
):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    connection = make_due_for_refresh(XConnection.objects.get(user=owner))
    assert connection.refresh_token_encrypted is not None
    copy = decrypt_token(
        connection.refresh_token_encrypted, column="refresh_token", user_id=owner.pk
    )
    thief = XApiClient.from_settings().refresh_token(copy)  # a stolen copy, used first

    with pytest.raises(XReconnectRequired):
        maybe_refresh_token(connection)  # presents the rotated token: reuse

    assert not XConnection.objects.filter(user=owner).exists()
    with pytest.raises(XUnauthorized):  # the whole grant died, the thief's pair too
        XApiClient.from_settings().get_me(thief.access_token)
    assert token_calls(sandbox) == 3  # the exchange, the thief's, ours (refused)


def test_a_dead_refresh_token_disconnects_and_asks_to_reconnect(client, owner, sandbox):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    connection = make_due_for_refresh(XConnection.objects.get(user=owner))
    sandbox.revoke_tokens("reader", kind="refresh")

    with pytest.raises(XReconnectRequired) as raised:
        maybe_refresh_token(connection)

    assert raised.value.user_message == (
        "X session expired. Please reconnect your account."
    )
    assert not XConnection.objects.filter(user=owner).exists()
    owner.refresh_from_db()
    assert owner.locked_x_user_id == sandbox.account("reader")["id"]


def test_a_transient_refresh_failure_keeps_the_connection(client, owner, sandbox):
    from social.x_api import XUnavailable

    client.force_login(owner)
    connect(client, sandbox, "reader")
    connection = make_due_for_refresh(XConnection.objects.get(user=owner))
    sandbox.fault("POST /2/oauth2/token", status=503)

    with pytest.raises(XUnavailable):
        maybe_refresh_token(connection)

    assert XConnection.objects.filter(user=owner).exists()
    assert maybe_refresh_token(connection).token_expires_at > timezone.now()


def test_disconnect_revokes_the_tokens_at_x(
    client, owner, sandbox, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    connect(client, sandbox, "reader")
    access = get_access_token(XConnection.objects.get(user=owner))

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/auth/x/disconnect")

    from social.x_api import XUnauthorized

    with pytest.raises(XUnauthorized):
        XApiClient.from_settings().get_me(access)


def test_rate_limit_tracking_refuses_locally_and_recovers(client, owner, sandbox):
    from social.x_api import XRateLimited

    client.force_login(owner)
    connect(client, sandbox, "reader")
    connection = XConnection.objects.get(user=owner)
    token = get_access_token(connection)
    api = XApiClient.from_settings()
    sandbox.set_rate_profile("pay-per-use", window=2, limits={"retweet": 1})
    first, second, third = (sandbox.create_tweet(f"post {n}")["id"] for n in range(3))

    assert api.create_retweet(token, connection.x_user_id, first)
    with pytest.raises(XRateLimited) as refused:
        api.create_retweet(token, connection.x_user_id, second)
    retweet_calls = [
        r for r in sandbox.requests()["log"] if r["route"].endswith("/retweets")
    ]

    assert len(retweet_calls) == 1  # the refusal cost no request
    assert refused.value.reset_at is not None
    time.sleep(max(0.0, refused.value.reset_at.timestamp() - time.time()) + 0.3)
    assert api.create_retweet(token, connection.x_user_id, third)
