"""Rewards' writes: minting (minting.py), the mint queue and its lease
(mint_queue.py), the operator queue (operator_queue.py), the sweeper (sweeper.py),
what a saved wallet releases (wallets.py) and the audit after payout (audit.py)."""

from .audit import audit_rewarded_shares, mark_undone
from .mint_queue import request_mint
from .minting import mark_rewarded, mint_share_reward
from .operator_queue import mark_failed, retry_minting
from .sweeper import sweep_rewards
from .wallets import queue_rewards_waiting_for_wallet

__all__ = [
    "audit_rewarded_shares",
    "mark_failed",
    "mark_rewarded",
    "mark_undone",
    "mint_share_reward",
    "queue_rewards_waiting_for_wallet",
    "request_mint",
    "retry_minting",
    "sweep_rewards",
]
