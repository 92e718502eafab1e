from __future__ import annotations

from typing import Any

from campaigns.models import ShareReward

from .mirror import _with_tx_link


class DatabaseActivity:
    """The member's rewarded X shares from PostgreSQL, newest first: what the page
    shows while the Redis mirror is unreachable. Same entry shape as the mirror's."""

    def __init__(self, user_id: int) -> None:
        self.rewards = ShareReward.objects.filter(
            user_id=user_id, status=ShareReward.Status.REWARDED
        ).order_by("-rewarded_at", "-pk")

    def count(self) -> int:
        return self.rewards.count()

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        rows = self.rewards.values(
            "retweet_id", "bux_rewarded", "tx_hash", "rewarded_at"
        )[window]
        return [
            _with_tx_link(
                {
                    "type": "x_share",
                    "label": "X Share",
                    "amount": row["bux_rewarded"],
                    "retweet_id": row["retweet_id"],
                    "tx_hash": row["tx_hash"],
                    "timestamp": row["rewarded_at"],
                    "url": f"https://x.com/i/status/{row['retweet_id']}",
                }
            )
            for row in rows
        ]
