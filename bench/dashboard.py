"""The campaign dashboard in admin for a campaign with 1,000,000 rewards.

    .venv/bin/python -m bench.dashboard            # 1,000,000 rewards, 10 renders
    .venv/bin/python -m bench.dashboard --quick    # 200,000 rewards, 5 renders

One campaign's rewards in every status over about eleven days (shown by the hour:
the longest hourly chart), a budget, X spend rows for every hour and purpose, and
box views and presses in Redis. The subject is the whole page as staff get it
(`GET /admin/campaigns/sharecampaign/<id>/dashboard/`, through Django's test
client: middleware, session, queries, SVG and tables), after VACUUM ANALYZE as
autovacuum leaves a table. The figures beside it are each query's own time. Goal:
the page renders in under a second (median). The page reads hourly sums
(rewards.services.stats); what rebuilding them costs is printed beside it.

The same campaign's CSV export (campaigns.dashboard.export, what the admin action
and `export_campaign_rewards` stream) is then written out whole: how far the
process's resident memory rose while it ran, against the bytes written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from functools import partial
from typing import Any

from bench.common import cores, create_rewards, format_ms, summary_ms
from bench.results import count, lower, timing

GOAL_MS = 1000.0
PURPOSES = ("share", "like", "score")
EXPORT_SAMPLE_ROWS = 5_000


def _fixture(rewards: int) -> tuple[int, date, float]:
    from django.db import connection

    from campaigns.analytics import BOX_VIEWS, PRESSES, count_visitor
    from campaigns.models import ShareCampaign

    started = time.perf_counter()
    create_rewards(rewards, 1)
    campaign = ShareCampaign.objects.get()
    ShareCampaign.objects.filter(pk=campaign.pk).update(bux_budget=60 * rewards)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO social_xspend (hour, campaign_id, purpose, requests,"
            " cost_micros) SELECT date_trunc('hour', at), %s, purpose, 90, 1350000"
            " FROM generate_series(now() - interval '12 days', now(),"
            " interval '1 hour') at, unnest(%s::text[]) purpose",
            [campaign.pk, list(PURPOSES)],
        )
        cursor.execute("VACUUM ANALYZE campaigns_sharereward")
        cursor.execute("SELECT min(created_at)::date FROM campaigns_sharereward")
        (first_day,) = cursor.fetchone()
    for n in range(2000):
        count_visitor(BOX_VIEWS, campaign.pk, f"u{n}", day=first_day)
        count_visitor(PRESSES, campaign.pk, f"u{n}", day=first_day)
    return campaign.pk, first_day, time.perf_counter() - started


def _rebuild_times(first_day: date) -> dict[str, float]:
    """What keeping the hourly sums costs (milliseconds): all of them once (the
    migration, `refresh_campaign_stats --days`), and the last two hours (beat every
    minute, or the first dashboard view after a minute)."""
    from datetime import UTC, datetime
    from datetime import time as day_start

    from rewards.services.stats import refresh_campaign_stats, refresh_recent_stats

    begun = time.perf_counter()
    refresh_campaign_stats(datetime.combine(first_day, day_start.min, tzinfo=UTC))
    full = (time.perf_counter() - begun) * 1000
    refresh_recent_stats()
    begun = time.perf_counter()
    refresh_recent_stats()
    return {"all hours": full, "last two hours": (time.perf_counter() - begun) * 1000}


def _query_times(campaign_id: int, first_day: date) -> dict[str, float]:
    """Each of the dashboard's reads alone, once warm (milliseconds)."""
    from django.utils import timezone

    from campaigns.dashboard import queries
    from campaigns.models import ShareCampaign

    campaign = ShareCampaign.objects.get(pk=campaign_id)
    period = queries.Period(first_day, timezone.now().date())
    board = queries.Dashboard(period=period, campaign=campaign)
    times = {}
    for name, read in (
        ("shares and scores", queries._read_shares),
        ("minted", queries._read_minted),
        ("x spend", queries._read_spend),
    ):
        read(board)
        begun = time.perf_counter()
        read(board)
        times[name] = (time.perf_counter() - begun) * 1000
    return times


def _resident_mb() -> float:
    """This process's resident memory (Linux: /proc/self/statm), in MB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _export(campaign_id: int) -> dict[str, float]:
    """Stream the campaign's whole CSV export: rows, bytes, seconds, and how far the
    process's resident memory rose above where it started (sampled every
    EXPORT_SAMPLE_ROWS rows, psycopg's buffers included). Flat memory: a chunk of
    rows (export.CHUNK) at a time, whatever the number of rewards."""
    from campaigns.dashboard.export import csv_lines
    from campaigns.models import ShareCampaign

    campaign = ShareCampaign.objects.get(pk=campaign_id)
    lines = written = 0
    start = highest = _resident_mb()
    begun = time.perf_counter()
    for line in csv_lines(campaign):
        lines += 1
        written += len(line)
        if lines % EXPORT_SAMPLE_ROWS == 0:
            highest = max(highest, _resident_mb())
    return {
        "rows": lines - 1,  # the header is not a reward
        "mb written": written / 1e6,
        "seconds": time.perf_counter() - begun,
        "rss growth mb": max(highest, _resident_mb()) - start,
    }


def measure(rewards: int, renders: int) -> dict[str, Any]:
    from django.test import Client

    from accounts.models import User

    campaign_id, first_day, fixture_seconds = _fixture(rewards)
    print(f"fixture: {rewards:,} rewards in {fixture_seconds:.1f}s")
    rebuilds = _rebuild_times(first_day)
    staff = User.objects.create_user(
        "bench-staff@example.com", "x", is_staff=True, is_superuser=True
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(staff)
    # The rewards' whole span, about twelve days: the hourly charts at their longest.
    url = f"/admin/campaigns/sharecampaign/{campaign_id}/dashboard/?since={first_day}"
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    shown = page.content.decode()
    assert f'data-figure="shares">{rewards}<' in shown.replace(",", ""), "all shown"
    seconds = []
    for _ in range(renders):
        begun = time.perf_counter()
        assert client.get(url).status_code == 200
        seconds.append(time.perf_counter() - begun)
    page_ms = summary_ms(seconds)
    queries = _query_times(campaign_id, first_day)
    export = _export(campaign_id)
    assert export["rows"] == rewards, export
    ratio = page_ms["median"] / GOAL_MS
    print(f"cores: {cores()}")
    print(f"dashboard page, {rewards:,} rewards: {format_ms(page_ms)}")
    for name, ms in queries.items():
        print(f"  query {name}: {ms:.0f} ms")
    for name, ms in rebuilds.items():
        print(f"  rebuild of the hourly sums, {name}: {ms:.0f} ms")
    print(
        f"CSV export, {export['rows']:,} rows, {export['mb written']:.0f} MB written"
        f" in {export['seconds']:.1f} s; resident memory rose"
        f" {export['rss growth mb']:.1f} MB"
    )
    print(f"median / goal: {ratio:.2f} (goal: under {GOAL_MS:.0f} ms, ratio < 1)")
    return {
        "benchmark": "dashboard",
        "subject": page_ms,
        "value": page_ms["median"],
        "unit": "ms median",
        "goal": GOAL_MS,
        "goal_text": f"dashboard, {rewards:,} rewards, under {GOAL_MS:.0f} ms",
        "goal_figure": "page median",
        "ratio_to_goal": ratio,
        "ok": page_ms["median"] < GOAL_MS,
        "parameters": {"rewards": rewards, "renders": renders},
        "figures": {
            "fixture rewards": count(rewards),
            "fixture seconds": lower(fixture_seconds, "s"),
            **timing("page", page_ms),
            **{f"query {name}": lower(ms, "ms") for name, ms in queries.items()},
            **{f"rebuild {name}": lower(ms, "ms") for name, ms in rebuilds.items()},
            "export rows": count(export["rows"]),
            "export MB written": count(export["mb written"], "MB"),
            "export memory growth": lower(export["rss growth mb"], "MB"),
            "export seconds": lower(export["seconds"], "s"),
        },
    }


def main() -> int:
    from bench.common import run_benchmark

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 rewards")
    parser.add_argument("--rewards", type=int, default=1_000_000)
    parser.add_argument("--renders", type=int, default=10)
    args = parser.parse_args()
    rewards = 200_000 if args.quick else args.rewards
    renders = 5 if args.quick else args.renders
    return run_benchmark("dashboard", partial(measure, rewards, renders))


if __name__ == "__main__":
    sys.exit(main())
