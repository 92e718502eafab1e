"""What every benchmark shares: its own database and Redis key prefix, percentiles,
and one result line that `bench.run_all` collects into the table.

A benchmark process calls `setup_django(name)` before importing project code: it
creates `blockster_bench_<name>` (with the name of DATABASE_URL's database after it
unless that is the default) on the server of DATABASE_URL, points Django at it
(settings `bench.bench_settings`), migrates it, and gives the run its own
REDIS_KEY_PREFIX. `cleanup()` (registered with atexit) drops the database and deletes
the prefix's keys.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from devprocs import Process

if TYPE_CHECKING:
    from accounts.models import User
    from campaigns.models import ShareCampaign
    from sandbox.testing import Sandbox

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


def bench_database_name(name: str, admin_url: str) -> str:
    """`blockster_bench_<name>`, and the admin database's name after it when that
    is not the default: two runs against one server with different DATABASE_URLs
    (two checkouts, two CI jobs) never drop each other's database."""
    admin_database = urlsplit(admin_url).path.lstrip("/")
    if admin_database in ("", "blockster", "postgres"):
        return f"blockster_bench_{name}"
    return f"blockster_bench_{name}_{admin_database}"[:63]


def setup_django(name: str) -> str:
    """Create and migrate this benchmark's database, set its Redis key prefix and
    configure Django; returns the database URL (for child processes)."""
    admin_url = os.environ.get("DATABASE_URL", "")
    database = bench_database_name(name, admin_url)
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


def run_benchmark(name: str, measure: Callable[[], dict[str, Any]]) -> int:
    """`measure()` on the benchmark's own database (dropped afterwards), then the
    result line; the exit code says whether the goal was met."""
    setup_django(name)
    try:
        result = measure()
    finally:
        cleanup()
    report(result)
    return 0 if result["ok"] else 1


def get_load(
    url: str,
    headers: dict[str, str],
    cookies: dict[str, str],
    tasks: int,
    seconds: float,
    budget: int,
) -> tuple[list[float], int, float]:
    """`tasks` concurrent GETs of `url` on keep-alive connections until `seconds`
    pass or `budget` requests are made: the latencies of the 200s, the failures and
    the elapsed time. Module-level, so a multiprocessing pool can run it."""
    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal errors
        while time.perf_counter() < deadline and len(latencies) + errors < budget:
            started = time.perf_counter()
            try:
                ok = (await client.get(url)).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    async def load() -> float:
        limits = httpx.Limits(max_connections=tasks, max_keepalive_connections=tasks)
        async with httpx.AsyncClient(
            limits=limits, headers=headers, cookies=cookies, timeout=30
        ) as client:
            started = time.perf_counter()
            deadline = started + seconds
            await asyncio.gather(*(worker(client, deadline) for _ in range(tasks)))
            return time.perf_counter() - started

    elapsed = asyncio.run(load())
    return latencies, errors, elapsed


def delete_prefixed_keys(pattern: str = "*") -> int:
    """Delete the keys under this run's REDIS_KEY_PREFIX (the mirror and the cache)
    that match `pattern` after the prefix."""
    from blockster.redis_client import get_redis
    from rewards.mirror.schema import key_pattern

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


def start_gunicorn(
    port: int, *, workers: int = 2, threads: int = 1, log: Path | None = None
) -> Process:
    """gunicorn on loopback with the bench settings (which add the baseline views),
    once it answers."""
    server = Process(
        "gunicorn",
        gunicorn_command(port, workers=workers, threads=threads)
        + ["--log-level", "warning"],
        log_path=log,
        cwd=ROOT,
    ).start()
    health = f"http://127.0.0.1:{port}/healthz"
    try:
        server.wait_ready(partial(_answers, health), timeout=30)
    except Exception:
        server.stop()
        raise
    return server


def gunicorn_command(port: int, *, workers: int, threads: int) -> list[str]:
    """The app under gunicorn on a loopback port; gthread workers when threaded."""
    return [
        sys.executable, "-m", "gunicorn", "blockster.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread" if threads > 1 else "sync",
        "--timeout", "60",
    ]  # fmt: skip


def _answers(url: str) -> bool:
    # Any answer will do: each benchmark checks the pages it measures.
    httpx.get(url, timeout=1)
    return True


def campaign_on_new_tweet(
    sandbox: Sandbox, author: User, title: str, **fields: Any
) -> ShareCampaign:
    """A published post with a campaign (`fields`) on a new sandbox tweet."""
    return campaign_on_new_tweets(sandbox, author, title, count=1, **fields)


def campaign_on_new_tweets(
    sandbox: Sandbox, author: User, title: str, *, count: int, **fields: Any
) -> ShareCampaign:
    """A published post with a campaign (`fields`) on `count` new sandbox tweets,
    in order (a thread: its announcement, then the follow-ups)."""
    from django.utils import timezone
    from django.utils.text import slugify

    from campaigns.services import create_share_campaign
    from posts.models import Post

    if count < 1:
        raise ValueError("a campaign holds at least one tweet")
    urls = [
        sandbox.create_tweet(
            f"{title}: read and earn BUX."
            if number == 1
            else f"{title}, part {number}: more to read, more BUX."
        )["url"]
        for number in range(1, count + 1)
    ]
    post = Post.objects.create(
        title=title,
        slug=slugify(title),
        body="A post whose campaign the benchmark's readers share.",
        author=author,
        is_published=True,
        published_at=timezone.now(),
    )
    return create_share_campaign(post, tweet_urls=urls, **fields)


def _defaulted(model: Any, given: str) -> tuple[str, str, list[Any]]:
    """What an INSERT of `given` (its column list) into `model`'s table leaves out
    and must still fill: the NOT NULL columns with a default, as `, col`
    for the column list, `, %s::type` for the SELECT list, and their values. A field
    added to a model then never breaks the generated rows."""
    from django.db import connection

    named = {name.strip() for name in given.split(",")}
    columns, values, params = "", "", []
    for field in model._meta.concrete_fields:
        if field.column in named or field.null or field.primary_key:
            continue
        default = field.get_default()  # "" for a blank text field without one
        if default is None or hasattr(default, "resolve_expression"):
            continue  # nullable, or the database's own default
        columns += f", {connection.ops.quote_name(field.column)}"
        values += f", %s::{field.db_type(connection)}"
        params.append(field.get_db_prep_save(default, connection))
    return columns, values, params


USER_COLUMNS = (
    "password, is_superuser, email, display_name, wallet_address, is_staff,"
    " is_active, date_joined"
)
POST_COLUMNS = (
    "title, slug, body, is_published, published_at, created_at, updated_at, author_id"
)
CAMPAIGN_COLUMNS = (
    "bux_reward, request_like, is_active, close_when_spent, total_shares,"
    " created_at, updated_at, post_id"
)
TWEET_COLUMNS = "position, tweet_id, tweet_url, campaign_id"
REWARD_COLUMNS = (
    "status, retweet_id, liked, bux_rewarded, failure_reason, verified_at,"
    " rewarded_at, tx_hash, mint_attempts, needs_operator, waiting_for_wallet,"
    " created_at, updated_at, campaign_id, campaign_tweet_id, user_id"
)


def create_rewards(
    users: int, campaigns: int, *, first_user_rewarded: bool = False
) -> int:
    """`users` × `campaigns` ShareReward rows in every status (a quarter each), on
    campaigns of one tweet each, generated inside PostgreSQL; with
    `first_user_rewarded`, every row of the first user is rewarded (a full activity
    feed). Returns the first user's id."""
    from django.db import connection

    from accounts.models import User
    from campaigns.models import CampaignTweet, ShareCampaign, ShareReward
    from posts.models import Post

    statuses = "(ARRAY['pending','verified','rewarded','failed'])[mod(n, 4) + 1]"
    status = (
        f"CASE WHEN uid = first_uid THEN 'rewarded' ELSE {statuses} END"
        if first_user_rewarded
        else statuses
    )
    # Interpolated below: column lists and casts built from the models, and the
    # CASE expression above, built from constants; values are parameters.
    with connection.cursor() as cursor:
        more, cast, params = _defaulted(User, USER_COLUMNS)
        cursor.execute(
            f"INSERT INTO accounts_user ({USER_COLUMNS}{more})"  # noqa: S608
            " SELECT '!', false, 'bench' || g || '@example.com', 'Reader ' || g, '',"
            f" false, true, now(){cast} FROM generate_series(1, %s) g",
            [*params, users],
        )
        cursor.execute("SELECT min(id) FROM accounts_user")
        first_uid = cursor.fetchone()[0]
        more, cast, params = _defaulted(Post, POST_COLUMNS)
        cursor.execute(
            f"INSERT INTO posts_post ({POST_COLUMNS}{more})"  # noqa: S608
            " SELECT 'Post ' || g, 'post-' || g, 'Body', true, now(), now(), now(),"
            f" %s{cast} FROM generate_series(1, %s) g",
            [first_uid, *params, campaigns],
        )
        more, cast, params = _defaulted(ShareCampaign, CAMPAIGN_COLUMNS)
        cursor.execute(
            f"INSERT INTO campaigns_sharecampaign ({CAMPAIGN_COLUMNS}{more})"  # noqa: S608
            f" SELECT 50, true, true, false, 0, now(), now(), id{cast} FROM posts_post",
            params,
        )
        more, cast, params = _defaulted(CampaignTweet, TWEET_COLUMNS)
        cursor.execute(
            f"INSERT INTO campaigns_campaigntweet ({TWEET_COLUMNS}{more})"  # noqa: S608
            " SELECT 0, (1865000000000000000 + id)::text,"
            " 'https://x.com/BlocksterCom/status/' || (1865000000000000000 + id),"
            f" id{cast} FROM campaigns_sharecampaign",
            params,
        )
        more, cast, params = _defaulted(ShareReward, REWARD_COLUMNS)
        cursor.execute(
            f"INSERT INTO campaigns_sharereward ({REWARD_COLUMNS}{more})"  # noqa: S608
            " SELECT status, CASE WHEN status = 'pending' THEN '' ELSE tweet_id END,"
            " status <> 'pending', mod(n, 90) + 10,"
            " CASE WHEN status = 'failed' THEN 'Mint failed' ELSE '' END,"
            " CASE WHEN status = 'pending' THEN NULL ELSE at END,"
            " CASE WHEN status = 'rewarded' THEN at + interval '1 minute' END,"
            " CASE WHEN status = 'rewarded' THEN '0x' || lpad(to_hex(n), 64, '0') END,"
            f" 0, false, false, at, at, cid, tid, uid{cast}"
            f" FROM (SELECT *, {status} AS status,"
            " now() - n * interval '1 second' AS at"
            " FROM (SELECT u.id AS uid, t.campaign_id AS cid, t.id AS tid, t.tweet_id,"
            " %s AS first_uid, row_number() OVER (ORDER BY t.campaign_id, u.id) AS n"
            " FROM accounts_user u CROSS JOIN campaigns_campaigntweet t) pairs"
            ") rows",
            [*params, first_uid],
        )
        cursor.execute("ANALYZE")
    return first_uid
