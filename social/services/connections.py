"""A user's X connection: finding it and ending it (the reader disconnects, or X no
longer accepts its tokens). Tokens of an ended connection are handed back to X."""

from __future__ import annotations

import logging
from contextlib import suppress

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from accounts.models import SecurityEvent, User
from accounts.services import record_security_event

from ..crypto import TokenDecryptError, decrypt_token
from ..models import XConnection
from ..x_api import XApiClient, XApiError

logger = logging.getLogger(__name__)


class XReconnectRequired(Exception):
    """X no longer accepts the stored tokens; the connection was removed."""

    user_message = "X session expired. Please reconnect your account."

    def __init__(self) -> None:
        super().__init__(self.user_message)


def get_x_connection_for_user(user: User) -> XConnection | None:
    if not user.is_authenticated:
        return None
    return XConnection.objects.filter(user=user).first()


def disconnect_x_account(
    user: User, *, revoke: bool = True, ip: str | None = None
) -> bool:
    """The user disconnects X: remove the connection (the account lock stays) and
    hand its tokens back to X. False if there was none."""
    connection = _remove_connection(user, revoke=revoke)
    if connection is None:
        return False
    record_security_event(
        SecurityEvent.Kind.X_DISCONNECTED,
        user=user,
        actor=user,
        ip=ip,
        detail={"x_user_id": connection.x_user_id},
    )
    return True


def require_reconnect(user: User, *, reason: str) -> XReconnectRequired:
    """X no longer accepts the stored tokens, or they no longer decrypt: remove the
    connection (nothing left to revoke), record the reconnect prompt, and return the
    exception that carries the reader's message."""
    connection = _remove_connection(user, revoke=False)
    record_security_event(
        SecurityEvent.Kind.X_RECONNECT_REQUIRED,
        user=user,
        detail={
            "reason": reason,
            "x_user_id": connection.x_user_id if connection else None,
        },
    )
    return XReconnectRequired()


@sensitive_variables("tokens")
def _remove_connection(user: User, *, revoke: bool) -> XConnection | None:
    connection = XConnection.objects.filter(user_id=user.pk).first()
    if connection is None:
        return None
    tokens: list[str] = []
    if revoke:
        for column in ("access_token", "refresh_token"):
            blob = getattr(connection, f"{column}_encrypted")
            if blob is None:
                continue
            # An undecryptable token is nothing we could revoke anyway.
            with suppress(TokenDecryptError):
                tokens.append(
                    decrypt_token(blob, column=column, user_id=connection.user_id)
                )
    XConnection.objects.filter(pk=connection.pk).delete()
    logger.info("user %s disconnected X account %s", user.pk, connection.x_user_id)
    if tokens:
        # After the delete, outside any transaction: X's answer cannot undo it.
        transaction.on_commit(
            lambda: revoke_quietly(XApiClient.from_settings(), *tokens)
        )
    return connection


def revoke_quietly(client: XApiClient, *tokens: str | None) -> None:
    for token in tokens:
        if not token:
            continue
        try:
            client.revoke_token(token)
        except XApiError as error:
            logger.info("X token revocation failed (ignored): %s", error.detail)
