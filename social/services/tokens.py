"""The connection's tokens: reading the access token, refreshing it (one refresh at
a time: X's refresh tokens are single-use), re-encrypting with a new key."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import SecurityEvent
from accounts.services import record_security_event

from ..crypto import TokenDecryptError, decrypt_token, encrypt_token, needs_rotation
from ..models import XConnection
from ..x_api import TokenSet, XApiClient, XApiError, XOAuthError, XUnauthorized
from .connections import XReconnectRequired, require_reconnect

logger = logging.getLogger(__name__)

# What storing a new token pair changes on a connection; never the score.
TOKEN_FIELDS = (
    "access_token_encrypted",
    "refresh_token_encrypted",
    "token_expires_at",
    "scopes",
    "updated_at",
)


def get_access_token(connection: XConnection) -> str:
    """The connection's access token. A token that no longer decrypts (its key was
    removed, the row copied or damaged) ends the connection as a revoked grant does:
    raises XReconnectRequired."""
    try:
        return decrypt_token(
            connection.access_token_encrypted,
            column="access_token",
            user_id=connection.user_id,
        )
    except TokenDecryptError as error:
        logger.warning(
            "X access token of user %s does not decrypt: %s", connection.user_id, error
        )
        raise require_reconnect(
            connection.user, reason="access_token_undecryptable"
        ) from error


def store_tokens(connection: XConnection, tokens: TokenSet) -> None:
    connection.access_token_encrypted = encrypt_token(
        tokens.access_token, column="access_token", user_id=connection.user_id
    )
    # X may answer a refresh without a new refresh token: keep the one we have.
    if tokens.refresh_token:
        connection.refresh_token_encrypted = encrypt_token(
            tokens.refresh_token, column="refresh_token", user_id=connection.user_id
        )
    connection.token_expires_at = timezone.now() + timedelta(seconds=tokens.expires_in)
    if tokens.scopes:
        connection.scopes = list(tokens.scopes)


def maybe_refresh_token(
    connection: XConnection, *, client: XApiClient | None = None
) -> XConnection:
    """Return the connection with an access token valid for at least an hour.

    One refresh at a time per connection: X's refresh tokens are single-use, so two
    concurrent refreshes would leave one worker with a dead token. Raises
    XReconnectRequired (connection removed) when X refuses the refresh token, or an
    XApiError for a transient failure (connection kept).
    """
    if not connection.token_needs_refresh:
        return connection
    client = client or XApiClient.from_settings()
    try:
        with transaction.atomic():
            return _refresh_locked(connection, client)
    except (XOAuthError, XUnauthorized, TokenDecryptError, _NoRefreshToken) as error:
        logger.warning(
            "X refresh refused for user %s (%s); disconnecting",
            connection.user_id,
            type(error).__name__,
        )
        _record_failed_refresh(connection, error, connection_kept=False)
        reason = (
            "refresh_token_undecryptable"
            if isinstance(error, TokenDecryptError)
            else "refresh_refused"
        )
        raise require_reconnect(connection.user, reason=reason) from error
    except XApiError as error:
        _record_failed_refresh(connection, error, connection_kept=True)
        raise


def _record_failed_refresh(
    connection: XConnection, error: Exception, *, connection_kept: bool
) -> None:
    record_security_event(
        SecurityEvent.Kind.X_REFRESH_FAILED,
        user=connection.user,
        detail={
            "x_user_id": connection.x_user_id,
            "error": type(error).__name__,
            "connection_kept": connection_kept,
        },
    )


class _NoRefreshToken(Exception):
    pass


@sensitive_variables("refresh_token", "tokens")
def _refresh_locked(connection: XConnection, client: XApiClient) -> XConnection:
    current = (
        XConnection.objects.select_for_update(no_key=True)
        .filter(pk=connection.pk)
        .first()
    )
    if current is None:
        raise XReconnectRequired()
    if not current.token_needs_refresh:
        return current  # another worker refreshed while we waited for the lock
    if current.refresh_token_encrypted is None:
        raise _NoRefreshToken()
    refresh_token = decrypt_token(
        current.refresh_token_encrypted,
        column="refresh_token",
        user_id=current.user_id,
    )
    # X is called while the row lock is held, deliberately: the lock is what keeps a
    # second worker from spending the same single-use refresh token. The call has
    # tight timeouts, and the new pair is saved before anyone uses it.
    tokens = client.refresh_token(refresh_token)
    store_tokens(current, tokens)
    current.save(update_fields=TOKEN_FIELDS)
    logger.info("refreshed X token for user %s", current.user_id)
    return current


def rotate_connection_tokens(connection: XConnection) -> bool:
    """Re-encrypt the connection's tokens with the current first key.

    Returns False when they already use it. Raises TokenDecryptError when a token
    cannot be read with any configured key.
    """
    with transaction.atomic():
        current = XConnection.objects.select_for_update(no_key=True).get(
            pk=connection.pk
        )
        columns = [
            column
            for column in ("access_token", "refresh_token")
            if getattr(current, f"{column}_encrypted") is not None
        ]
        if not any(
            needs_rotation(getattr(current, f"{column}_encrypted"))
            for column in columns
        ):
            return False
        for column in columns:
            field = f"{column}_encrypted"
            plaintext = decrypt_token(
                getattr(current, field), column=column, user_id=current.user_id
            )
            setattr(
                current,
                field,
                encrypt_token(plaintext, column=column, user_id=current.user_id),
            )
        current.save(update_fields=[f"{column}_encrypted" for column in columns])
        return True
