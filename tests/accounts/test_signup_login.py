import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.factories import PASSWORD

User = get_user_model()


def test_sign_up_with_email_logs_the_new_reader_in(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "New.Reader@Example.com",
            "password1": "a sturdy pass phrase 42",
            "password2": "a sturdy pass phrase 42",
        },
    )

    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "new.reader@example.com"
    assert client.get("/settings/").status_code == 200


def test_sign_up_refuses_an_email_already_registered(client, owner):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "OWNER@example.com",
            "password1": "a sturdy pass phrase 42",
            "password2": "a sturdy pass phrase 42",
        },
    )

    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert User.objects.count() == 1


def test_log_in_and_log_out(client, owner, settings):
    response = client.post(
        "/accounts/login/",
        {"login": "owner@example.com", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert client.get("/settings/").status_code == 200
    old_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/settings/").status_code == 302

    # Someone who kept a copy of the cookie gets nothing from it: the session ended
    # on the server, not only in this browser.
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_cookie
    assert replay.get("/settings/").status_code == 302


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/settings/", "/settings/"),
        # An absolute URL, even to this host, could switch an https site to http.
        ("http://testserver/settings/", "/"),
        ("https://testserver/settings/", "/"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ],
)
def test_log_in_returns_only_to_a_path_on_this_site(client, owner, next_url, lands_on):
    response = client.post(
        "/accounts/login/",
        {
            "login": "owner@example.com",
            "password": PASSWORD,
            "next": next_url,
        },
        secure=True,
    )

    assert response.status_code == 302
    assert response["Location"] == lands_on


def test_log_in_with_a_wrong_password_is_refused_with_a_message(client, owner):
    response = client.post(
        "/accounts/login/", {"login": "owner@example.com", "password": "wrong"}
    )

    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert client.get("/settings/").status_code == 302


def test_password_reset_sends_a_mail(client, owner, mailoutbox):
    response = client.post("/accounts/password/reset/", {"email": "owner@example.com"})

    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["owner@example.com"]
    assert "/accounts/password/reset/key/" in mailoutbox[0].body
