from django.db import connection as db_connection

from social.models import XConnection


def test_settings_offers_to_connect_when_nothing_is_connected(client, owner):
    client.force_login(owner)

    body = client.get("/settings/").content.decode()

    assert "Connect X Account" in body
    assert "/auth/x/authorize?redirect_to=/settings/" in body


def test_settings_shows_the_connected_account_with_disconnect(
    client, owner, connection_factory
):
    connection_factory(owner, username="olive_x")
    client.force_login(owner)

    body = client.get("/settings/").content.decode()

    assert "@olive_x" in body
    assert 'action="/auth/x/disconnect"' in body
    assert "Connected since" in body


def test_after_disconnecting_the_button_offers_to_reconnect(
    client, owner, connection_factory
):
    connection_factory(owner)
    client.force_login(owner)
    client.post("/auth/x/disconnect")

    assert "Reconnect X Account" in client.get("/settings/").content.decode()


def test_other_readers_see_the_handle_but_no_buttons(
    client, owner, other_user, connection_factory
):
    connection_factory(owner, username="olive_x")
    client.force_login(other_user)

    body = client.get(f"/members/{owner.pk}").content.decode()

    assert "@olive_x" in body
    assert "/auth/x/disconnect" not in body
    assert "Connect X Account" not in body


def test_tokens_appear_in_no_page_and_no_admin_screen(
    client, owner, staff, connection_factory
):
    connection = connection_factory(
        owner, access_token="ACCESS-PLAINTEXT-XYZ", refresh_token="REFRESH-PLAINTEXT"
    )
    pages = [f"/members/{owner.pk}", "/settings/"]
    client.force_login(owner)
    bodies = [client.get(page).content.decode() for page in pages]
    client.force_login(staff)
    admin_pages = [
        "/admin/social/xconnection/",
        f"/admin/social/xconnection/{connection.pk}/change/",
        f"/admin/accounts/user/{owner.pk}/change/",
    ]
    for page in admin_pages:
        response = client.get(page)
        assert response.status_code == 200, page
        bodies.append(response.content.decode())

    for body in bodies:
        assert "ACCESS-PLAINTEXT" not in body and "REFRESH-PLAINTEXT" not in body
        assert "token_encrypted" not in body


def test_admin_cannot_edit_or_delete_connections(
    client, owner, staff, connection_factory
):
    connection = connection_factory(owner, username="olive_x")
    client.force_login(staff)

    response = client.post(
        f"/admin/social/xconnection/{connection.pk}/change/", {"x_username": "hacked"}
    )
    delete = client.post(
        f"/admin/social/xconnection/{connection.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    assert delete.status_code == 403
    assert XConnection.objects.get(pk=connection.pk).x_username == "olive_x"


def test_tokens_are_stored_encrypted(owner, connection_factory):
    connection_factory(owner, access_token="ACCESS-PLAINTEXT-XYZ")

    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM social_xconnection")
        row = cursor.fetchone()

    assert not any(
        b"ACCESS-PLAINTEXT" in bytes(v)
        for v in row
        if isinstance(v, memoryview | bytes)
    )
