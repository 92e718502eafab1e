"""Redis stopped (the real process, the only Redis: cache, sessions, broker, mirror):
signed-in readers keep using the site, and their sessions stay right when it returns.
A share made meanwhile: tests/campaigns/test_share_during_redis_outage.py."""

from __future__ import annotations

import logging

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session

from blockster.unavailable import RETRY_AFTER_SECONDS
from tests.factories import PASSWORD


def signed_in_as(client, user) -> bool:
    return client.session.get(SESSION_KEY) == str(user.pk)


def test_a_signed_in_reader_keeps_using_the_site_while_redis_is_down(
    owned_redis, client, owner, page_text
):
    client.force_login(owner)

    with owned_redis.down():
        own_page = client.get(f"/members/{owner.pk}")
        saved = client.post(
            "/settings/",
            {"display_name": "Olive Outage", "wallet_address": owner.wallet_address},
        )
        after_save = client.get("/settings/")

    assert own_page.status_code == 200
    assert "Showing X shares only" in page_text(own_page)
    assert saved.status_code == 302
    assert "Your settings were saved." in page_text(after_save)
    owner.refresh_from_db()
    assert owner.display_name == "Olive Outage"
    # Redis came back empty: the session is read from PostgreSQL and cached again.
    assert client.get("/settings/").status_code == 200
    assert signed_in_as(client, owner)


def test_signing_out_while_redis_is_down_stays_signed_out_when_it_returns(
    owned_persistent_redis, client, owner, settings
):
    client.force_login(owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    with owned_persistent_redis.down():
        client.post("/accounts/logout/")

    assert not Session.objects.filter(session_key=cookie).exists()
    # Redis came back with its copy of the session; the old cookie still opens
    # nothing.
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    response = client.get("/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_session_cache_outage_is_logged_once(owned_redis, client, owner, caplog):
    client.force_login(owner)
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="blockster.sessions"):
        with owned_redis.down():
            for _ in range(3):
                assert client.get("/settings/").status_code == 200
        assert client.get("/settings/").status_code == 200

    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "session cache unavailable" in m]) == 1
    assert len([m for m in messages if "session cache is back" in m]) == 1


def test_signing_in_while_redis_is_down_asks_to_try_again_in_a_moment(
    owned_redis, client, owner, page_text
):
    """allauth's sign-in limits live in the cache and fail closed: no unlimited
    password guessing while Redis is away."""
    credentials = {"login": owner.email, "password": PASSWORD}

    with owned_redis.down():
        form = client.get("/accounts/login/")
        refused = client.post("/accounts/login/", credentials)

    assert form.status_code == 200
    assert refused.status_code == 503
    assert refused["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "Back in a moment" in page_text(refused)
    assert not signed_in_as(client, owner)
    assert client.post("/accounts/login/", credentials).status_code == 302
    assert signed_in_as(client, owner)
