from __future__ import annotations

import re
from collections.abc import Mapping

from .models import SecurityEvent, User

DetailValue = str | int | bool | None
# A detail key named like a credential is a bug in the caller: the trail is readable
# by every staff member, so it must never hold one.
_CREDENTIAL_KEYS = re.compile(
    r"token|secret|verifier|password|^code$|^state$|cipher", flags=re.IGNORECASE
)


def update_profile(user: User, *, display_name: str, wallet_address: str) -> bool:
    """Save the owner's public name and payout wallet (validated by the form).

    Returns whether a wallet address was added or changed: rewards waiting for one
    can then be minted (rewards.services.queue_rewards_waiting_for_wallet).
    """
    previous = User.objects.values_list("wallet_address", flat=True).get(pk=user.pk)
    user.display_name = display_name
    user.wallet_address = wallet_address
    user.save(update_fields=["display_name", "wallet_address"])
    return bool(wallet_address) and wallet_address != previous


def record_security_event(
    kind: SecurityEvent.Kind,
    *,
    user: User | None = None,
    actor: User | None = None,
    ip: str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
) -> SecurityEvent:
    """Add an entry to the security audit trail.

    Call it outside any transaction that may roll back, or the entry goes with it.
    """
    detail = dict(detail or {})
    for key, value in detail.items():
        if _CREDENTIAL_KEYS.search(key):
            raise ValueError(f"security event detail {key!r} looks like a credential")
        if not isinstance(value, DetailValue):
            raise TypeError(f"security event detail {key!r} must be a plain value")
    return SecurityEvent.objects.create(
        kind=kind,
        user=user,
        actor=actor,
        ip=ip,
        detail=detail,
    )
