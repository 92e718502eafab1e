"""Connecting an X account: the code exchange, the profile, and the account lock
(a user stays locked to the first X account they connect; an X account belongs to
one user)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from accounts.models import SecurityEvent, User
from accounts.services import DetailValue, record_security_event

from ..models import XConnection
from ..x_api import TokenSet, XApiClient, XApiError, XUser
from .connections import revoke_quietly
from .tokens import TOKEN_FIELDS, store_tokens

logger = logging.getLogger(__name__)

# What a reconnect changes besides the tokens; never the score.
PROFILE_FIELDS = ("x_user_id", "x_username", "x_name", "x_profile_image_url")


LOCKED_MESSAGE = (
    "Your account is locked to a different X account. You can only connect the X "
    "account you originally linked."
)


class XAccountLocked(Exception):
    """The user is locked to another X account."""

    user_message = LOCKED_MESSAGE


class XAccountTaken(Exception):
    """This X account is already connected to (or locked by) another user."""

    def __init__(self, username: str):
        super().__init__(username)
        self.user_message = (
            f"This X account (@{username}) is already connected to another account. "
            "Each X account can only be linked to one account."
        )


class XConnectFailed(Exception):
    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


def upsert_x_connection(user: User, *, profile: XUser, tokens: TokenSet) -> XConnection:
    """Save the user's X connection, locking the user to this X account on first use.

    Raises XAccountLocked (the user is locked to another X account) or XAccountTaken
    (another user holds this X account); the unique indexes are the final guard.
    """
    try:
        with transaction.atomic():
            return _upsert_locked(user, profile, tokens)
    except IntegrityError:
        # Another user connected the same X account between our check and our write.
        raise XAccountTaken(profile.username) from None


def _upsert_locked(user: User, profile: XUser, tokens: TokenSet) -> XConnection:
    locked_user = User.objects.select_for_update().get(pk=user.pk)
    if locked_user.locked_x_user_id not in (None, profile.id):
        raise XAccountLocked()
    held_elsewhere = (
        User.objects.filter(locked_x_user_id=profile.id).exclude(pk=user.pk).exists()
        or XConnection.objects.filter(x_user_id=profile.id)
        .exclude(user_id=user.pk)
        .exists()
    )
    if held_elsewhere:
        raise XAccountTaken(profile.username)
    if locked_user.locked_x_user_id is None:
        locked_user.locked_x_user_id = profile.id
        locked_user.save(update_fields=["locked_x_user_id"])
        user.locked_x_user_id = profile.id
    # Locked: a disconnect cannot remove the row between this read and the save.
    connection = XConnection.objects.select_for_update(no_key=True).filter(
        user_id=user.pk
    ).first() or XConnection(user=user)
    connection.x_user_id = profile.id
    connection.x_username = profile.username
    connection.x_name = profile.name
    connection.x_profile_image_url = profile.profile_image_url
    store_tokens(connection, tokens)
    if connection.pk is None:
        connection.save()
    else:
        # A reconnect names what it changes: the score, and its mirror, stay.
        connection.save(update_fields=[*PROFILE_FIELDS, *TOKEN_FIELDS])
    return connection


@sensitive_variables("code", "code_verifier", "tokens")
def complete_x_connection(
    user: User,
    *,
    code: str,
    code_verifier: str,
    client: XApiClient | None = None,
    ip: str | None = None,
) -> XConnection:
    """Exchange the authorization code, read the X profile and save the connection.

    Raises XConnectFailed, XAccountLocked or XAccountTaken, each with `user_message`.
    Connects and refused links go to the security audit trail. The first score is
    queued by the caller (`social.tasks.schedule_score_calculation`, from the OAuth
    callback view): services sit below tasks and never queue them.
    """
    client = client or XApiClient.from_settings()
    try:
        tokens = client.exchange_code(code, code_verifier)
    except XApiError as error:
        logger.warning("X code exchange failed for user %s: %s", user.pk, error.detail)
        raise XConnectFailed(
            f"Failed to connect X account: {error.user_message}"
        ) from error
    try:
        profile = client.get_me(tokens.access_token)
    except XApiError as error:
        logger.warning("X profile fetch failed for user %s: %s", user.pk, error.detail)
        revoke_quietly(client, tokens.access_token, tokens.refresh_token)
        raise XConnectFailed("Failed to get your X profile information") from error
    account = {"x_user_id": profile.id, "x_username": profile.username}
    try:
        connection = upsert_x_connection(user, profile=profile, tokens=tokens)
    except (XAccountLocked, XAccountTaken) as refused:
        # Tokens we will never store are handed back to X.
        revoke_quietly(client, tokens.access_token, tokens.refresh_token)
        _record_refused_link(user, refused, account=account, ip=ip)
        raise
    logger.info("user %s connected X account %s", user.pk, profile.id)
    record_security_event(
        SecurityEvent.Kind.X_CONNECTED, user=user, actor=user, ip=ip, detail=account
    )
    return connection


def _record_refused_link(
    user: User,
    refused: XAccountLocked | XAccountTaken,
    *,
    account: dict[str, str],
    ip: str | None,
) -> None:
    detail: dict[str, DetailValue]
    if isinstance(refused, XAccountLocked):
        kind = SecurityEvent.Kind.X_LINK_REFUSED_LOCKED
        detail = {**account, "locked_x_user_id": user.locked_x_user_id}
    else:
        kind = SecurityEvent.Kind.X_LINK_REFUSED_TAKEN
        holder = (
            User.objects.filter(locked_x_user_id=account["x_user_id"])
            .values_list("pk", flat=True)
            .first()
        )
        detail = {**account, "held_by_user_id": holder}
    record_security_event(kind, user=user, actor=user, ip=ip, detail=detail)
