import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection as db_connection

from social.crypto import (
    TokenDecryptError,
    decrypt_token,
    encrypt_token,
    needs_rotation,
    parse_keys,
)
from social.models import XConnection

OLD = "old:" + base64.b64encode(b"o" * 32).decode()
NEW = "new:" + base64.b64encode(b"n" * 32).decode()
TOKEN = "access-token-plaintext-1234567890"


@pytest.fixture
def old_key(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [OLD]


def test_a_token_round_trips_and_the_ciphertext_hides_it(old_key):
    blob = encrypt_token(TOKEN, column="access_token", user_id=7)

    assert TOKEN.encode() not in blob
    assert decrypt_token(blob, column="access_token", user_id=7) == TOKEN
    # A fresh nonce every time.
    assert blob != encrypt_token(TOKEN, column="access_token", user_id=7)


def test_a_token_copied_to_another_user_or_column_does_not_decrypt(old_key):
    blob = encrypt_token(TOKEN, column="access_token", user_id=7)

    with pytest.raises(TokenDecryptError, match="authentication failed"):
        decrypt_token(blob, column="access_token", user_id=8)
    with pytest.raises(TokenDecryptError, match="authentication failed"):
        decrypt_token(blob, column="refresh_token", user_id=7)


def test_an_altered_ciphertext_does_not_decrypt(old_key):
    blob = bytearray(encrypt_token(TOKEN, column="access_token", user_id=7))
    blob[-1] ^= 1

    with pytest.raises(TokenDecryptError):
        decrypt_token(bytes(blob), column="access_token", user_id=7)


def test_an_unknown_key_gives_a_clear_error_without_the_ciphertext(settings, old_key):
    blob = encrypt_token(TOKEN, column="access_token", user_id=7)
    settings.TOKEN_ENCRYPTION_KEYS = [NEW]

    with pytest.raises(TokenDecryptError) as raised:
        decrypt_token(blob, column="access_token", user_id=7)

    assert "key 'old' is not in TOKEN_ENCRYPTION_KEYS" in str(raised.value)
    assert TOKEN not in repr(raised.value)


def test_every_listed_key_decrypts_and_the_first_encrypts(settings, old_key):
    old_blob = encrypt_token(TOKEN, column="access_token", user_id=7)
    settings.TOKEN_ENCRYPTION_KEYS = [NEW, OLD]

    assert decrypt_token(old_blob, column="access_token", user_id=7) == TOKEN
    assert needs_rotation(old_blob)
    assert not needs_rotation(encrypt_token(TOKEN, column="access_token", user_id=7))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "empty"),
        (["no-separator"], "must look like 'id:base64key'"),
        (["k1:not base64!"], "not valid base64"),
        (["k1:" + base64.b64encode(b"short").decode()], "must be 32 bytes"),
        ([OLD, OLD], "listed twice"),
    ],
)
def test_bad_key_configuration_is_refused_clearly(entries, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_keys(entries)


def test_rotate_token_keys_re_encrypts_every_token_with_the_first_key(
    settings, old_key, user_factory, capsys, connection_factory
):
    users = [user_factory() for _ in range(3)]
    for user in users:
        connection_factory(
            user, access_token=f"access-{user.pk}", refresh_token=f"refresh-{user.pk}"
        )
    settings.TOKEN_ENCRYPTION_KEYS = [NEW, OLD]

    call_command("rotate_token_keys", batch_size=2)
    output = capsys.readouterr().out
    settings.TOKEN_ENCRYPTION_KEYS = [NEW]  # the old key can now go

    assert "rotate_token_keys: total=3 rotated=3 unchanged=0 errors=0" in output
    assert "2/3 checked" in output
    for user in users:
        connection = XConnection.objects.get(user=user)
        assert (
            decrypt_token(
                connection.access_token_encrypted,
                column="access_token",
                user_id=user.pk,
            )
            == f"access-{user.pk}"
        )
        assert connection.refresh_token_encrypted is not None
        assert (
            decrypt_token(
                connection.refresh_token_encrypted,
                column="refresh_token",
                user_id=user.pk,
            )
            == f"refresh-{user.pk}"
        )

    call_command("rotate_token_keys")
    assert "total=3 rotated=0 unchanged=3 errors=0" in capsys.readouterr().out


def test_rotate_token_keys_reports_tokens_no_key_can_read(
    settings, old_key, user_factory, capsys, connection_factory
):
    connection_factory(user_factory())
    settings.TOKEN_ENCRYPTION_KEYS = [NEW]

    with pytest.raises(CommandError, match="1 connection"):
        call_command("rotate_token_keys")

    assert "errors=1" in capsys.readouterr().out


def test_tokens_are_not_in_the_database_in_plaintext(
    old_key, user_factory, connection_factory
):
    user = user_factory()
    connection_factory(
        user, access_token=f"access-{user.pk}", refresh_token=f"refresh-{user.pk}"
    )

    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token_encrypted, refresh_token_encrypted "
            "FROM social_xconnection WHERE user_id = %s",
            [user.pk],
        )
        access, refresh = cursor.fetchone()

    assert f"access-{user.pk}".encode() not in bytes(access)
    assert f"refresh-{user.pk}".encode() not in bytes(refresh)
