from __future__ import annotations

import re
from collections.abc import Mapping

from django.conf import settings

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


def is_barred_for_undone_shares(user: User) -> bool:
    """The reader undid X_UNDONE_SHARES_LIMIT retweets after being paid for them
    (beyond those staff forgave): new campaigns refuse them. A limit of 0 bars
    nobody."""
    limit = settings.X_UNDONE_SHARES_LIMIT
    counted = user.undone_shares - user.undone_shares_forgiven
    return limit > 0 and counted >= limit


BARRED_FOR_UNDONE_SHARES = (
    "You took back retweets you had been paid for, so new campaigns are closed to "
    "you. Contact us if you think this is a mistake."
)


def lift_undone_shares_bar(user: User, *, actor: User | None, ip: str | None) -> bool:
    """Forgive the reader's undone retweets counted so far (staff's decision, kept
    in the audit trail); False if there was nothing to forgive."""
    counted = user.undone_shares
    lifted = (
        User.objects.filter(pk=user.pk, undone_shares=counted)
        .exclude(undone_shares_forgiven=counted)
        .update(undone_shares_forgiven=counted)
    )
    if not lifted:
        return False
    user.undone_shares_forgiven = counted
    record_security_event(
        SecurityEvent.Kind.UNDONE_BAR_LIFTED,
        user=user,
        actor=actor,
        ip=ip,
        detail={"undone_shares": counted},
    )
    return True


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
