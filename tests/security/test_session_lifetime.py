"""How long a sign-in lasts: an idle timeout renewed by use, an absolute lifetime."""

from __future__ import annotations

from blockster.session_lifetime import LIFETIME_KEY, RENEW_FRACTION


def signed_in(client, user, settings):
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def age_session(client, *, since: float = 0, saved: float = 0) -> None:
    """Move the session's sign-in and last save this many seconds into the past."""
    session = client.session
    stamp = session[LIFETIME_KEY]
    session[LIFETIME_KEY] = {
        **stamp,
        "since": stamp["since"] - since,
        "saved": stamp["saved"] - saved,
    }
    session.save()


def test_a_signed_in_session_is_not_written_on_every_request(client, owner, settings):
    client.force_login(owner)  # the lifetime starts with the sign-in's own save

    responses = [client.get("/settings/") for _ in range(3)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert not any(settings.SESSION_COOKIE_NAME in r.cookies for r in responses)


def test_use_renews_the_idle_timeout_once_a_tenth_of_it_has_passed(
    client, owner, settings
):
    key = signed_in(client, owner, settings)
    age_session(client, saved=settings.SESSION_IDLE_TIMEOUT * RENEW_FRACTION + 1)

    response = client.get("/settings/")

    assert response.status_code == 200
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value == key
    assert cookie["max-age"] == settings.SESSION_IDLE_TIMEOUT
    assert client.get("/settings/").status_code == 200


def test_a_session_idle_for_longer_than_the_timeout_is_signed_out(
    client, owner, settings
):
    signed_in(client, owner, settings)
    age_session(client, since=1, saved=settings.SESSION_IDLE_TIMEOUT + 1)

    response = client.get("/settings/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_session_ends_at_its_absolute_lifetime_however_active(
    client, owner, settings
):
    old_key = signed_in(client, owner, settings)
    age_session(client, since=settings.SESSION_ABSOLUTE_LIFETIME + 1)

    response = client.get("/settings/")

    assert response.status_code == 302
    assert client.get("/settings/").status_code == 302
    assert client.session.session_key != old_key


def test_signing_in_again_after_the_lifetime_starts_a_new_one(client, owner, settings):
    signed_in(client, owner, settings)
    age_session(client, since=settings.SESSION_ABSOLUTE_LIFETIME + 1)
    client.get("/settings/")

    signed_in(client, owner, settings)

    assert client.get("/settings/").status_code == 200


def test_disconnecting_x_keeps_the_reader_signed_in(client, owner, settings, connect_x):
    connect_x(owner)
    key = signed_in(client, owner, settings)

    response = client.post("/auth/x/disconnect")

    assert response.status_code == 302
    assert client.get("/settings/").status_code == 200
    assert client.cookies[settings.SESSION_COOKIE_NAME].value == key


def test_a_session_from_before_lifetimes_existed_starts_its_clock_on_use(
    client, owner, settings
):
    signed_in(client, owner, settings)
    session = client.session
    del session[LIFETIME_KEY]
    session.save()

    assert client.get("/settings/").status_code == 200
    assert client.session[LIFETIME_KEY]["user"] == str(owner.pk)
