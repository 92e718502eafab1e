"""The member activity feed: Redis (the mirror) against PostgreSQL (the ORM).

    .venv/bin/python bench/feed.py            # 5,000 reads of each
    .venv/bin/python bench/feed.py --quick    # 1,000 reads of each

A user with 1,000 rewarded shares among 100,000 rewards. The subject is the member
page's read path: `Paginator(UserActivity(user), 20)` page 1 (the count and the 20
newest entries, decoded). The baseline is the same page from PostgreSQL through the
ORM (`DatabaseActivity`, the page's fallback), with an index made for the query
(user, rewarded_at, id, rewarded rows only) so the database is at its best. The two
alternate read by read, in turns, in one process. Goal: Redis at least 3x faster
(median).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

GOAL = 3.0
USERS, CAMPAIGNS = 100, 1000  # 100,000 rewards; the first user has 1,000


def _read_page(activity: object) -> Callable[[], int]:
    from django.core.paginator import Paginator

    def read() -> int:
        page = Paginator(activity, 20).get_page(1)
        return len(list(page.object_list))

    return read


def measure(reads: int, seconds: float) -> dict:
    from django.db import connection

    from rewards.mirror import UserActivity, sync_all_share_rewards
    from rewards.selectors import DatabaseActivity

    started = time.perf_counter()
    user_id = common.create_rewards(USERS, CAMPAIGNS, first_user_rewarded=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX bench_feed_idx ON campaigns_sharereward"
            " (user_id, rewarded_at DESC, id DESC) WHERE status = 'rewarded'"
        )
        cursor.execute("ANALYZE campaigns_sharereward")
    sync_all_share_rewards()
    elapsed = time.perf_counter() - started
    print(f"fixture: {USERS * CAMPAIGNS:,} rewards in {elapsed:.1f}s")

    redis_read = _read_page(UserActivity(user_id))
    orm_read = _read_page(DatabaseActivity(user_id))
    assert redis_read() == orm_read() == 20, "both sides must return a full page"
    for _ in range(50):  # warm connections, plans and caches on both sides
        redis_read(), orm_read()

    timings: dict[str, list[float]] = {"redis": [], "orm": []}
    sides = (("redis", redis_read), ("orm", orm_read))
    deadline = time.perf_counter() + seconds
    for n in range(reads):
        if time.perf_counter() > deadline:
            break
        # Alternate which side goes first, so neither always follows the other.
        for name, read in sides if n % 2 else sides[::-1]:
            begun = time.perf_counter()
            read()
            timings[name].append(time.perf_counter() - begun)

    redis, orm = common.summary_ms(timings["redis"]), common.summary_ms(timings["orm"])
    ratio = orm["median"] / redis["median"]
    print(f"cores: {common.cores()}")
    print(f"redis (UserActivity page): {common.format_ms(redis)}")
    print(f"orm (DatabaseActivity page, indexed): {common.format_ms(orm)}")
    print(f"speed-up (median): {ratio:.1f}x (goal >= {GOAL:.0f}x)")
    return {
        "benchmark": "feed",
        "subject": redis,
        "baseline": orm,
        "value": ratio,
        "unit": "x faster (median)",
        "goal": GOAL,
        "ratio_to_goal": ratio / GOAL,
        "ok": ratio >= GOAL,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 reads of each")
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60.0, help="time bound")
    args = parser.parse_args()
    reads = 1000 if args.quick else args.reads
    common.setup_django("feed")
    try:
        result = measure(reads, args.seconds)
    finally:
        common.cleanup()
    common.report(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
