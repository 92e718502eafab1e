"""The Redis fast-read mirror of share rewards and X multipliers.

PostgreSQL is the source of truth; every write happens after its transaction
commits, and `check_mirror --repair` mends whatever a failed write left. The same
keys serve a single Redis server and a Redis Cluster. The package, by job: schema.py
(keys, the mirrored columns, the hash and feed-entry encoding), topology.py (what one
atomic step may touch: a slot on a cluster, anything on one server), write.py (the
after-commit sync), multipliers.py (`user_multipliers`), built.py (the built
markers), read.py (the feed from Redis), backfill.py with its scripts, legacy.py (the
move from the previous layout), scan.py (streaming rows and keys) and check.py
(compare and repair). docs/mirror.md describes them.
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
