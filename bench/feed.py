"""The member activity feed: Redis (the mirror) against PostgreSQL (the ORM).

    .venv/bin/python -m bench.feed            # 5,000 reads of each
    .venv/bin/python -m bench.feed --quick    # 1,000 reads of each

A user with 1,000 rewarded shares among 100,000 rewards. The subject is the member
page's read path: `Paginator(UserActivity(user), ACTIVITY_PER_PAGE)` page 1 (the
count and the newest entries, decoded). The baseline is the same page from
PostgreSQL through the ORM (`DatabaseActivity`, the page's fallback), with an index
made for the query (user, rewarded_at, id, rewarded rows only) so the database is at
its best. The two alternate read by read, in turns, in one process. Goal: Redis at
least 3x faster (median).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from bench.common import (
    cores,
    create_rewards,
    format_ms,
    run_benchmark,
    summary_ms,
)
from bench.results import count, higher, lower, timing

if TYPE_CHECKING:
    from rewards.mirror.read import UserActivity
    from rewards.selectors import DatabaseActivity

GOAL = 3.0
USERS, CAMPAIGNS = 100, 1000  # 100,000 rewards; the first user has 1,000


def _read_page(activity: UserActivity | DatabaseActivity) -> Callable[[], int]:
    from django.core.paginator import Paginator

    from rewards.selectors import ACTIVITY_PER_PAGE

    def read() -> int:
        # A new Paginator each read: it caches count(), which every page load pays.
        paginator: Paginator[dict[str, Any]] = Paginator(
            activity,  # type: ignore[arg-type]  # count() and slices: all Paginator uses
            ACTIVITY_PER_PAGE,
        )
        return len(list(paginator.get_page(1).object_list))

    return read


def measure(reads: int, seconds: float) -> dict[str, Any]:
    from django.db import connection

    from rewards.mirror import sync_all_share_rewards
    from rewards.mirror.read import UserActivity
    from rewards.selectors import ACTIVITY_PER_PAGE, DatabaseActivity

    started = time.perf_counter()
    user_id = create_rewards(USERS, CAMPAIGNS, first_user_rewarded=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX bench_feed_idx ON campaigns_sharereward"
            " (user_id, rewarded_at DESC, id DESC) WHERE status = 'rewarded'"
        )
        cursor.execute("ANALYZE campaigns_sharereward")
    sync_all_share_rewards()
    fixture_seconds = time.perf_counter() - started
    print(f"fixture: {USERS * CAMPAIGNS:,} rewards in {fixture_seconds:.1f}s")

    redis_read = _read_page(UserActivity(user_id))
    orm_read = _read_page(DatabaseActivity(user_id))
    pages = (redis_read(), orm_read())
    assert pages == (ACTIVITY_PER_PAGE,) * 2, "both sides must return a full page"
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

    redis, orm = summary_ms(timings["redis"]), summary_ms(timings["orm"])
    ratio = orm["median"] / redis["median"]
    print(f"cores: {cores()}")
    print(f"redis (UserActivity page): {format_ms(redis)}")
    print(f"orm (DatabaseActivity page, indexed): {format_ms(orm)}")
    print(f"speed-up (median): {ratio:.1f}x (goal >= {GOAL:.0f}x)")
    return {
        "benchmark": "feed",
        "subject": redis,
        "baseline": orm,
        "value": ratio,
        "unit": "x faster (median)",
        "goal": GOAL,
        "goal_text": f"Redis >= {GOAL:g}x faster than the ORM (median)",
        "goal_figure": "speed-up median",
        "ratio_to_goal": ratio / GOAL,
        "ok": ratio >= GOAL,
        "parameters": {"reads": reads, "seconds": seconds},
        "figures": {
            "fixture rewards": count(USERS * CAMPAIGNS),
            "fixture seconds": lower(fixture_seconds, "s"),
            **timing("redis page", redis),
            **timing("orm page (baseline)", orm),
            "speed-up median": higher(ratio, "x"),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 reads of each")
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60.0, help="time bound")
    args = parser.parse_args()
    reads = 1000 if args.quick else args.reads
    return run_benchmark("feed", partial(measure, reads, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
