"""The built markers: whether the mirror is whole where a reader looks.

An empty or short feed can mean "no rewards" or "Redis lost the mirror and nothing has
rebuilt it yet". A complete backfill or repair writes a marker in each primary's
range of slots (one on a single server, one per contiguous range on a cluster),
stamped with that primary's run id. A server that restarts empty loses its marker
with the rest of its data; a replica promoted in a failover keeps the marker it
replicated, as it keeps the data (writes lost in the failover are the repair's).
Readers check the marker of the range that holds the user's keys, so a node that lost
its data sends its own users to PostgreSQL while the others read Redis; they queue
one repair while it is missing.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from blockster.queueing import send_task_or_log
from blockster.redis_client import MirrorClient, get_mirror_redis

from .schema import (
    mirror_built_key,
    previous_mirror_built_key,
    rebuild_requested_key,
    user_tag,
)
from .topology import SlotRange, range_of, run_ids, slot_ranges, slot_tag

logger = logging.getLogger(__name__)

# The repair task is sent by name: rewards.tasks imports the mirror's check, so the
# mirror cannot import the tasks back.
REPAIR_MIRROR_TASK = "rewards.tasks.repair_mirror_task"
# A reader that finds the mirror not built queues a repair at most this often (beat
# runs one every 10 minutes anyway).
REBUILD_REQUEST_SECONDS = 600


class MirrorNotBuilt(RedisError):
    """Redis lost the mirror (it restarted empty, or failed over) and no backfill or
    repair has rebuilt it since: an empty or short feed may mean "not rebuilt yet",
    not "no entries". A RedisError, so readers fall back to PostgreSQL as they do
    while Redis is down."""


def marker_key(slots: SlotRange) -> str:
    """The marker of a slot range: a key in the range's first slot, so it lives on
    the primary that holds the range, and is lost with it."""
    return mirror_built_key(slot_tag(slots.start))


def previous_marker_key(slots: SlotRange) -> str:
    """The marker the (user, campaign) layout kept for a slot range (readers no
    longer look at it; the repair deletes it)."""
    return previous_mirror_built_key(slot_tag(slots.start))


def mark_built(client: MirrorClient, began: dict[str, str]) -> bool:
    """After a complete pass that began when the primaries had the run ids `began`
    (topology.run_ids): mark every range whose primary is still that server. A range
    whose primary restarted or failed over during the pass stays unmarked (what the
    pass wrote there may be gone); its readers use PostgreSQL and queue a repair.
    True when every range was marked."""
    ranges = slot_ranges(client)
    marked = [r for r in ranges if began.get(r.node) is not None]
    with client.pipeline(transaction=False) as pipe:
        for slots in marked:
            pipe.set(marker_key(slots), began[slots.node])
        pipe.execute()
    now = run_ids(client)
    restarted = [r for r in marked if now.get(r.node) != began[r.node]]
    if restarted:
        # Written to a server that is not the one the pass began on.
        with client.pipeline(transaction=False) as pipe:
            for slots in restarted:
                pipe.delete(marker_key(slots))
            pipe.execute()
        logger.warning(
            "Redis restarted or failed over during the mirror pass; "
            "%d of %d slot ranges not marked built",
            len(restarted),
            len(ranges),
        )
    return len(marked) == len(ranges) and not restarted


def ensure_built(reader: MirrorClient, user_id: int) -> None:
    """Raise MirrorNotBuilt, after queueing a rebuild, unless the range that holds
    this user's keys is marked built (read where the feed is read)."""
    if reader.exists(marker_key(range_of(reader, user_tag(user_id)))):
        return
    request_rebuild(get_mirror_redis())
    raise MirrorNotBuilt("the mirror has not been rebuilt since Redis lost it")


def request_rebuild(client: MirrorClient) -> bool:
    """Queue a repair pass, at most once per REBUILD_REQUEST_SECONDS across every
    process; False when one was queued already or the broker is down."""
    key = rebuild_requested_key()
    if not client.set(key, "1", nx=True, ex=REBUILD_REQUEST_SECONDS):
        return False
    if not send_task_or_log(REPAIR_MIRROR_TASK, catch_up="the next reader asks again"):
        client.delete(key)
        return False
    logger.info("the mirror is not built: repair queued")
    return True
