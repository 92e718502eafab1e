"""Campaigns' writes: campaigns (campaigns.py), claiming a reward (claim.py) and the
lease on a claim while X answers (lease.py), and the Retweet & Like flow (share.py).
From verified on, a reward belongs to rewards.services."""

from ..models import PLACE_HOLDING
from .campaigns import (
    create_share_campaign,
    get_campaign_for_post,
    get_campaign_stats,
    is_campaign_full,
    set_campaign_active,
)
from .claim import (
    AlreadyShared,
    ShareInProgress,
    create_pending_reward,
    delete_share_reward,
    verify_share_reward,
)
from .lease import STALE_CLAIM_AGE
from .share import share_to_x

__all__ = [
    "PLACE_HOLDING",
    "STALE_CLAIM_AGE",
    "AlreadyShared",
    "ShareInProgress",
    "create_pending_reward",
    "create_share_campaign",
    "delete_share_reward",
    "get_campaign_for_post",
    "get_campaign_stats",
    "is_campaign_full",
    "set_campaign_active",
    "share_to_x",
    "verify_share_reward",
]
