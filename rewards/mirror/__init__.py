"""The Redis fast-read mirror of share rewards and X multipliers.

PostgreSQL is the source of truth; every write happens after its transaction
commits, and `check_mirror --repair` mends whatever a failed write left. The package,
by job: schema.py (keys, the mirrored columns, the hash and feed-entry encoding),
write.py (the after-commit sync), multipliers.py (`user_multipliers`), built.py (the
built marker), read.py (the feed from Redis), backfill.py with backfill.lua,
scan.py (streaming rows and keys) and check.py (compare and repair).
docs/mirror.md describes them.
"""

from .backfill import sync_all_share_rewards
from .multipliers import get_user_x_multiplier, set_user_x_multiplier
from .read import list_user_share_rewards
from .write import sync_share_reward

__all__ = [
    "get_user_x_multiplier",
    "list_user_share_rewards",
    "set_user_x_multiplier",
    "sync_all_share_rewards",
    "sync_share_reward",
]
