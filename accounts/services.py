from __future__ import annotations

from .models import User


def update_profile(user: User, *, display_name: str, wallet_address: str) -> int:
    """Save the owner's public name and payout wallet (validated by the form).

    Returns how many rewards that were waiting for a wallet are now being minted.
    """
    from rewards.services import queue_rewards_waiting_for_wallet

    previous = User.objects.values_list("wallet_address", flat=True).get(pk=user.pk)
    added_wallet = bool(wallet_address) and wallet_address != previous
    user.display_name = display_name
    user.wallet_address = wallet_address
    user.save(update_fields=["display_name", "wallet_address"])
    if not added_wallet:
        return 0
    return queue_rewards_waiting_for_wallet(user.pk)
