from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from social.services import upsert_x_connection
from social.x_api import TokenSet, XUser


@pytest.fixture
def connection_factory():
    """Store a connection as the OAuth callback would, without going through X."""

    def make(user, *, x_user_id="1001", username="olive_x", expires_in=7200, **tokens):
        profile = XUser(id=x_user_id, username=username, name=username.title())
        token_set = TokenSet(
            access_token=tokens.get("access_token", f"access-{x_user_id}-secret-value"),
            refresh_token=tokens.get("refresh_token", f"refresh-{x_user_id}-secret"),
            expires_in=expires_in,
            scopes=("tweet.read", "users.read"),
        )
        return upsert_x_connection(user, profile=profile, tokens=token_set)

    return make


@pytest.fixture
def expired_state(owner):
    from social.models import XOAuthState

    return XOAuthState.objects.create(
        state="expired-state",
        code_verifier_encrypted=b"",
        redirect_to="/",
        user=owner,
        expires_at=timezone.now() - timedelta(seconds=1),
    )
