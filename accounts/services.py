from __future__ import annotations

from .models import User


def update_profile(user: User, *, display_name: str, wallet_address: str) -> User:
    """Save the owner's public name and payout wallet (validated by the form)."""
    user.display_name = display_name
    user.wallet_address = wallet_address
    user.save(update_fields=["display_name", "wallet_address"])
    return user
