"""Connecting X accounts: OAuth state, token storage and refresh, account locking."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from contextlib import suppress
from datetime import timedelta

from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables

from accounts.models import SecurityEvent, User
from accounts.services import DetailValue, record_security_event

from .crypto import TokenDecryptError, decrypt_token, encrypt_token, needs_rotation
from .models import XConnection, XOAuthState
from .x_api import (
    TokenSet,
    XApiClient,
    XApiError,
    XOAuthError,
    XUnauthorized,
    XUser,
)

logger = logging.getLogger(__name__)

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


class XReconnectRequired(Exception):
    """X no longer accepts the stored tokens; the connection was removed."""

    user_message = "X session expired. Please reconnect your account."

    def __init__(self) -> None:
        super().__init__(self.user_message)


class XConnectFailed(Exception):
    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


# --- OAuth state ----------------------------------------------------------------------


def safe_redirect_path(value: str | None) -> str:
    """A local path to return to after connecting; anything else becomes `/`."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 32 for char in value) or "\\" in value:
        return "/"
    if not url_has_allowed_host_and_scheme(value, allowed_hosts=set()):
        return "/"
    return value


def code_challenge_for(code_verifier: str) -> str:
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_session_secret() -> str:
    """A secret for the browser session to keep, binding its OAuth states to it."""
    return secrets.token_urlsafe(32)


def _session_binding(session_secret: str) -> str:
    return hashlib.sha256(session_secret.encode()).hexdigest()


@sensitive_variables("code_verifier")
def create_oauth_state(
    user: User, *, redirect_to: str, session_secret: str
) -> tuple[XOAuthState, str]:
    """Start an authorization: returns the stored state and its PKCE S256 challenge.

    `session_secret` is kept in the browser session that starts the flow; only a
    request showing it can finish the flow (is_bound_to_session).
    """
    # 96 random bytes encode to 128 characters, PKCE's maximum verifier length.
    code_verifier = secrets.token_urlsafe(96)
    oauth_state = XOAuthState.objects.create(
        state=secrets.token_urlsafe(32),
        code_verifier_encrypted=encrypt_token(
            code_verifier, column="code_verifier", user_id=user.pk
        ),
        redirect_to=safe_redirect_path(redirect_to),
        user=user,
        session_binding=_session_binding(session_secret),
    )
    return oauth_state, code_challenge_for(code_verifier)


def get_code_verifier(oauth_state: XOAuthState) -> str | None:
    """The state's PKCE verifier; None when it no longer decrypts (the flow must
    start again)."""
    try:
        return decrypt_token(
            oauth_state.code_verifier_encrypted,
            column="code_verifier",
            user_id=oauth_state.user_id,
        )
    except TokenDecryptError:
        return None


def is_bound_to_session(oauth_state: XOAuthState, session_secret: str | None) -> bool:
    if not session_secret or not oauth_state.session_binding:
        return False
    return hmac.compare_digest(
        oauth_state.session_binding, _session_binding(session_secret)
    )


def get_valid_oauth_state(
    state: str, *, user: User, session_secret: str | None
) -> XOAuthState | None:
    """The user's own unexpired state with this value, started in this session."""
    if not state:
        return None
    oauth_state = XOAuthState.objects.filter(
        state=state, user=user, expires_at__gt=timezone.now()
    ).first()
    if oauth_state is None or not is_bound_to_session(oauth_state, session_secret):
        return None
    return oauth_state


def consume_oauth_state(oauth_state: XOAuthState) -> bool:
    """Use a state up; False when another request already did (single use)."""
    deleted, _ = XOAuthState.objects.filter(pk=oauth_state.pk).delete()
    return deleted > 0


def purge_oauth_states() -> int:
    deleted, _ = XOAuthState.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


# --- Connections ----------------------------------------------------------------------


def get_x_connection_for_user(user: User) -> XConnection | None:
    if not user.is_authenticated:
        return None
    return XConnection.objects.filter(user=user).first()


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


def _store_tokens(connection: XConnection, tokens: TokenSet) -> None:
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
    connection = XConnection.objects.filter(user_id=user.pk).first() or XConnection(
        user=user
    )
    connection.x_user_id = profile.id
    connection.x_username = profile.username
    connection.x_name = profile.name
    connection.x_profile_image_url = profile.profile_image_url
    _store_tokens(connection, tokens)
    connection.save()
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
    Connects and refused links go to the security audit trail.
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
        _revoke_quietly(client, tokens.access_token, tokens.refresh_token)
        raise XConnectFailed("Failed to get your X profile information") from error
    account = {"x_user_id": profile.id, "x_username": profile.username}
    try:
        connection = upsert_x_connection(user, profile=profile, tokens=tokens)
    except (XAccountLocked, XAccountTaken) as refused:
        # Tokens we will never store are handed back to X.
        _revoke_quietly(client, tokens.access_token, tokens.refresh_token)
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
    _store_tokens(current, tokens)
    current.save(
        update_fields=[
            "access_token_encrypted",
            "refresh_token_encrypted",
            "token_expires_at",
            "scopes",
            "updated_at",
        ]
    )
    logger.info("refreshed X token for user %s", current.user_id)
    return current


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
            lambda: _revoke_quietly(XApiClient.from_settings(), *tokens)
        )
    return connection


def _revoke_quietly(client: XApiClient, *tokens: str | None) -> None:
    for token in tokens:
        if not token:
            continue
        try:
            client.revoke_token(token)
        except XApiError as error:
            logger.info("X token revocation failed (ignored): %s", error.detail)


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


# --- Scores ---------------------------------------------------------------------------


def schedule_score_calculation(connection: XConnection) -> None:
    """Queue a score calculation after commit, when one is due. A broker outage is
    logged, never raised: the daily scan picks the connection up later."""
    from .score import needs_score_calculation
    from .tasks import calculate_x_score_task

    if not needs_score_calculation(connection):
        return

    def send() -> None:
        try:
            calculate_x_score_task.delay(connection.pk)
        except Exception as error:  # kombu raises several types for a dead broker
            logger.warning(
                "score calculation for connection %s not queued: %s",
                connection.pk,
                type(error).__name__,
            )

    transaction.on_commit(send)


def due_score_connections() -> QuerySet[XConnection]:
    cutoff = timezone.now() - timedelta(days=7)
    return XConnection.objects.filter(
        models.Q(score_calculated_at__isnull=True)
        | models.Q(score_calculated_at__lte=cutoff)
    ).order_by(models.F("score_calculated_at").asc(nulls_first=True), "pk")


def enqueue_due_score_calculations(*, limit: int, spacing: float) -> list[int]:
    from .tasks import calculate_x_score_task

    ids = list(due_score_connections().values_list("pk", flat=True)[:limit])
    for position, connection_id in enumerate(ids):
        calculate_x_score_task.apply_async(
            (connection_id,), countdown=position * spacing
        )
    return ids
