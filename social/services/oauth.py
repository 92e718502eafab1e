"""OAuth 2.0 + PKCE state for connecting X: single use, bound to the user and to the
browser session that started the flow, with the return path checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables

from accounts.models import User

from ..crypto import TokenDecryptError, decrypt_token, encrypt_token
from ..models import XOAuthState


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


def consume_oauth_state(oauth_state: XOAuthState) -> bool:
    """Use a state up; False when another request already did (single use)."""
    deleted, _ = XOAuthState.objects.filter(pk=oauth_state.pk).delete()
    return deleted > 0


def purge_oauth_states() -> int:
    deleted, _ = XOAuthState.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
