from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone


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
