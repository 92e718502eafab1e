"""Every page names itself in the browser's tab and carries the site's icon, served
from our own static files (the browser journey in tests/e2e/test_page_basics.py loads
it under the Content-Security-Policy)."""

from __future__ import annotations

import re

import pytest

TITLE = re.compile(r"<title>(.*?)</title>", flags=re.DOTALL)
ICONS = re.compile(r"<link rel=\"icon\" href=\"([^\"]+)\"")


def title_of(response) -> str:
    (title,) = TITLE.findall(response.content.decode())
    # As a browser shows it: whitespace collapsed and trimmed.
    return " ".join(title.split())


@pytest.fixture
def pages(client, post_factory, owner):
    """`(path, signed_in, title)` for every kind of page a reader or editor opens."""
    post = post_factory(slug="layer-2-fees", title="Why layer 2 fees dropped")
    return [
        ("/", False, "Latest posts · Blockster"),
        (post.get_absolute_url(), False, "Why layer 2 fees dropped · Blockster"),
        (f"/members/{owner.pk}", False, "Olive Owner · Blockster"),
        ("/accounts/login/", False, "Log in · Blockster"),
        ("/accounts/signup/", False, "Sign up · Blockster"),
        ("/accounts/password/reset/", False, "Password Reset · Blockster"),
        ("/settings/", True, "Settings · Blockster"),
        ("/accounts/logout/", True, "Log out · Blockster"),
        ("/accounts/email/", True, "Email Addresses · Blockster"),
        ("/accounts/password/change/", True, "Change Password · Blockster"),
    ]


def test_every_page_names_itself_in_its_title(client, owner, pages):
    for path, signed_in, title in pages:
        if signed_in:
            client.force_login(owner)
        response = client.get(path)

        assert response.status_code == 200, path
        assert title_of(response) == title, path


def test_every_page_links_the_sites_icon_from_our_static_files(client, owner, pages):
    for path, signed_in, _ in pages:
        if signed_in:
            client.force_login(owner)

        icons = ICONS.findall(client.get(path).content.decode())

        assert icons == ["/static/favicon.ico", "/static/favicon.svg"], path


def test_a_missing_page_says_so_in_its_title(client, db, settings):
    settings.DEBUG = False

    response = client.get("/no-such-story")

    assert response.status_code == 404
    assert title_of(response) == "Page not found · Blockster"
    assert "There is nothing at this address." in response.content.decode()


def test_the_admin_keeps_djangos_titles(admin_client):
    response = admin_client.get("/admin/")

    assert title_of(response) == "Site administration | Django site admin"


def test_browsers_asking_for_favicon_ico_get_the_sites_icon(client, db):
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.ico"
    assert "max-age=86400" in response["Cache-Control"]
