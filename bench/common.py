"""What every benchmark shares: its own database and Redis key prefix, percentiles,
and one result line that `bench.run_all` collects into the table.

A benchmark process calls `setup_django(name)` before importing project code: it
creates `blockster_bench_<name>` on the server of DATABASE_URL, points Django at it
(settings `bench.bench_settings`), migrates it, and gives the run its own
REDIS_KEY_PREFIX. `cleanup()` (registered with atexit) drops the database and deletes
the prefix's keys.
"""

from __future__ import annotations

import atexit
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "BENCH-RESULT "

_state: dict[str, Any] = {}


def cores() -> int:
    return os.cpu_count() or 1


def percentile(values: Iterable[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def summary_ms(seconds: Iterable[float]) -> dict[str, float]:
    """Median, p95 and p99 of durations given in seconds, in milliseconds."""
    values = [value * 1000 for value in seconds]
    return {
        "median": statistics.median(values) if values else float("nan"),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "n": len(values),
    }


def format_ms(stats: dict[str, float]) -> str:
    return (
        f"median {stats['median']:.2f} ms  p95 {stats['p95']:.2f} ms  "
        f"p99 {stats['p99']:.2f} ms  (n={stats['n']:,})"
    )


def report(result: dict[str, Any]) -> None:
    """Print the machine-readable line `bench.run_all` reads (its figures: see
    `bench.results`)."""
    goal = result.get("goal_figure")
    if goal is not None and goal not in result.get("figures", {}):
        raise ValueError(f"the goal's figure {goal!r} is not among the figures")
    result.setdefault("cores", cores())
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)


def _database_url(name: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set (run through `make bench` or set it)")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(sql)


def setup_django(name: str) -> str:
    """Create and migrate this benchmark's database, set its Redis key prefix and
    configure Django; returns the database URL (for child processes)."""
    database = f"blockster_bench_{name}"
    admin_url = os.environ.get("DATABASE_URL", "")
    _state.update(database=database, admin_url=admin_url)
    _admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _admin_sql(f'CREATE DATABASE "{database}"')
    atexit.register(cleanup)
    bench_url = _database_url(database)
    os.environ["BENCH_ADMIN_DATABASE_URL"] = admin_url
    os.environ["DATABASE_URL"] = bench_url
    os.environ["REDIS_KEY_PREFIX"] = f"bench:{name}:{uuid.uuid4().hex[:8]}:"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.bench_settings"
    _state["prefix"] = os.environ["REDIS_KEY_PREFIX"]

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return bench_url


def child_environment() -> dict[str, str]:
    """The environment for a server or command started by the benchmark: the
    project root on PYTHONPATH, so `bench.*` and the apps import from any cwd."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return env


def delete_prefixed_keys(pattern: str = "*") -> int:
    """Delete the keys under this run's REDIS_KEY_PREFIX (the mirror and the cache)
    that match `pattern` after the prefix."""
    from blockster.redis_client import get_redis
    from rewards.mirror import key_pattern

    client = get_redis()
    pattern = key_pattern() + pattern
    deleted = 0
    batch: list[str] = []
    for key in client.scan_iter(match=pattern, count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def cleanup() -> None:
    """Drop the benchmark's database and its Redis keys (safe to call twice)."""
    database = _state.pop("database", None)
    if database is None:
        return
    try:
        delete_prefixed_keys()
    except Exception as error:  # noqa: BLE001 - cleanup reports, never masks the run
        print(f"could not delete the Redis keys: {error}", file=sys.stderr)
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001, S110 - Django may not be set up yet
        pass
    os.environ["DATABASE_URL"] = _state["admin_url"]
    _admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def wait_for_http(url: str, *, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_gunicorn(
    port: int, *, workers: int = 2, threads: int = 1, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """gunicorn on loopback with the bench settings (which add the baseline views)."""
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "blockster.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(  # noqa: S603 - a fixed command line
        command, cwd=ROOT, env=child_environment(), stdout=output, stderr=output
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def create_rewards(
    users: int, campaigns: int, *, first_user_rewarded: bool = False
) -> int:
    """`users` × `campaigns` ShareReward rows in every status (a quarter each),
    generated inside PostgreSQL; with `first_user_rewarded`, every row of the first
    user is rewarded (a full activity feed). Returns the first user's id."""
    from django.db import connection

    statuses = "(ARRAY['pending','verified','rewarded','failed'])[mod(n, 4) + 1]"
    status = (
        f"CASE WHEN uid = first_uid THEN 'rewarded' ELSE {statuses} END"
        if first_user_rewarded
        else statuses
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_user (password, is_superuser, email, display_name,"
            " wallet_address, is_staff, is_active, date_joined)"
            " SELECT '!', false, 'bench' || g || '@example.com', 'Reader ' || g, '',"
            " false, true, now() FROM generate_series(1, %s) g",
            [users],
        )
        cursor.execute("SELECT min(id) FROM accounts_user")
        first_uid = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO posts_post (title, slug, body, is_published, published_at,"
            " created_at, updated_at, author_id)"
            " SELECT 'Post ' || g, 'post-' || g, 'Body', true, now(), now(), now(), %s"
            " FROM generate_series(1, %s) g",
            [first_uid, campaigns],
        )
        cursor.execute(
            "INSERT INTO campaigns_sharecampaign (tweet_id, tweet_url, bux_reward,"
            " request_like, is_active, total_shares, created_at, updated_at, post_id)"
            " SELECT (1865000000000000000 + id)::text,"
            " 'https://x.com/BlocksterCom/status/' || (1865000000000000000 + id),"
            " 50, true, true, 0, now(), now(), id FROM posts_post"
        )
        # Interpolated: only the CASE expression above, built from constants.
        cursor.execute(
            "INSERT INTO campaigns_sharereward (status, retweet_id, liked,"  # noqa: S608
            " bux_rewarded, failure_reason, verified_at, rewarded_at, tx_hash,"
            " mint_attempts, needs_operator, waiting_for_wallet, created_at,"
            " updated_at, campaign_id, user_id)"
            " SELECT status, CASE WHEN status = 'pending' THEN '' ELSE tweet_id END,"
            " status <> 'pending', mod(n, 90) + 10,"
            " CASE WHEN status = 'failed' THEN 'Mint failed' ELSE '' END,"
            " CASE WHEN status = 'pending' THEN NULL ELSE at END,"
            " CASE WHEN status = 'rewarded' THEN at + interval '1 minute' END,"
            " CASE WHEN status = 'rewarded' THEN '0x' || lpad(to_hex(n), 64, '0') END,"
            " 0, false, false, at, at, cid, uid"
            f" FROM (SELECT *, {status} AS status,"
            " now() - n * interval '1 second' AS at"
            " FROM (SELECT u.id AS uid, c.id AS cid, c.tweet_id, %s AS first_uid,"
            " row_number() OVER (ORDER BY c.id, u.id) AS n"
            " FROM accounts_user u CROSS JOIN campaigns_sharecampaign c) pairs"
            ") rows",
            [first_uid],
        )
        cursor.execute("ANALYZE")
    return first_uid
