"""The post page with an active campaign, against a minimal view on the same server.

    .venv/bin/python -m bench.post_page            # 5 rounds of 3 s a side
    .venv/bin/python -m bench.post_page --quick    # 3 rounds of 1 s a side

gunicorn (2 sync workers, production settings, the benchmark's database) serves both.
The subject is `GET /<slug>` for a signed-in reader with a scored X connection: the
post and its "Retweet & Like" box (campaign, the reader's reward, connection,
personal amount from the Redis multiplier, places left). The baseline is
`GET /_bench/baseline/<slug>` (bench.bench_urls): one indexed query and a plain
text answer, through the same middleware with the same session cookie. Load comes
from client processes of asyncio tasks (httpx keep-alive, loopback), alternating
subject and baseline in short rounds. Goal: the post page serves at least 0.6 of
the baseline's requests/s. The page's SQL statements and Redis round trips are
counted in process too (bench.costs), for the reader and for an anonymous one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from functools import partial
from typing import Any

import httpx

from bench.common import (
    cores,
    create_rewards,
    format_ms,
    get_load,
    run_benchmark,
    start_gunicorn,
    summary_ms,
)
from bench.results import Figure, higher, lower, timing
from devprocs import free_port

GOAL = 0.6  # issue 21
PAGES_TIMED = 50  # for the CPU a page costs, in process


def _fixture() -> tuple[str, dict[str, str]]:
    """A post with an active campaign and a signed-in, connected, scored reader;
    returns the post's slug and the reader's session cookie."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from campaigns.services import create_share_campaign
    from posts.models import Post
    from rewards.mirror import set_user_x_multiplier, sync_all_share_rewards
    from social.models import XConnection
    from social.services import upsert_x_connection
    from social.x_api import TokenSet, XUser

    create_rewards(200, 20)  # other readers' shares on other posts
    sync_all_share_rewards()
    author = User.objects.earliest("pk")
    post = Post.objects.create(
        title="Bench post",
        slug="bench-post",
        body="<p>" + "Words of the article. " * 300 + "</p>",
        author=author,
        is_published=True,
        published_at=author.date_joined,
    )
    create_share_campaign(
        post, tweet_url="https://x.com/BlocksterCom/status/1999999999999999999"
    )
    reader = User.objects.create_user(email="reader@example.com", password=None)
    # Never sent anywhere: the page only shows that the reader is connected.
    tokens = TokenSet(
        access_token="access-bench",  # noqa: S106
        refresh_token="refresh-bench",  # noqa: S106
        expires_in=7200,
        scopes=tuple(settings.X_SCOPES),
    )
    upsert_x_connection(
        reader,
        profile=XUser(id="77001", username="reader", name="Reader"),
        tokens=tokens,
    )
    XConnection.objects.filter(user=reader).update(x_score=42)
    set_user_x_multiplier(reader.pk, 42)
    client = Client()
    client.force_login(reader)
    name = settings.SESSION_COOKIE_NAME
    return post.slug, {name: client.cookies[name].value}


def _counted_page(slug: str, cookies: dict[str, str]) -> dict[str, float]:
    """The page for the signed-in reader and for an anonymous one, in this process,
    counted by bench.costs (the second request of each: caches warm)."""
    from django.test import Client

    from bench.costs import CostCounter

    counted: dict[str, float] = {}
    for reader, client in (
        ("signed in", Client(HTTP_HOST="127.0.0.1")),
        ("anonymous", Client(HTTP_HOST="127.0.0.1")),
    ):
        if reader == "signed in":
            for name, value in cookies.items():
                client.cookies[name] = value
        client.get(f"/{slug}")
        with CostCounter() as costs:
            client.get(f"/{slug}")
        for name in ("sql statements", "redis round trips"):
            counted[f"{reader}: {name}"] = costs.counts[name]
        # This process's CPU for a page (not PostgreSQL's or Redis's): unlike the
        # rates, barely moved by other work on the machine.
        cpu = []
        for _ in range(PAGES_TIMED):
            started = time.thread_time()
            client.get(f"/{slug}")
            cpu.append(time.thread_time() - started)
        counted[f"{reader}: app cpu ms median"] = summary_ms(cpu)["median"]
    return counted


def measure(rounds: int, seconds: float, processes: int, tasks: int) -> dict[str, Any]:
    slug, cookies = _fixture()
    counted = _counted_page(slug, cookies)
    port = free_port()
    server = start_gunicorn(port, workers=2)
    base = f"http://127.0.0.1:{port}"
    urls = {"post page": f"{base}/{slug}", "baseline": f"{base}/_bench/baseline/{slug}"}
    try:
        page = httpx.get(urls["post page"], cookies=cookies)
        if page.status_code != 200 or "Retweet" not in page.text:
            raise SystemExit(f"the post page did not show the campaign box: {page}")
        results: dict[str, dict[str, Any]] = {
            name: {"latencies": [], "ok": 0, "errors": 0, "seconds": 0.0}
            for name in urls
        }
        with multiprocessing.Pool(processes) as pool:
            pool.starmap(
                get_load, [(urls["post page"], {}, cookies, tasks, 0.5, 10**6)]
            )
            for n in range(rounds):
                order = list(urls) if n % 2 == 0 else list(urls)[::-1]
                for name in order:
                    runs = pool.starmap(
                        get_load,
                        [(urls[name], {}, cookies, tasks, seconds, 10**6)] * processes,
                    )
                    side = results[name]
                    for latencies, errors, _ in runs:
                        side["latencies"] += latencies
                        side["errors"] += errors
                    side["seconds"] += max(elapsed for _, _, elapsed in runs)
    finally:
        server.stop()

    rates = {
        name: len(side["latencies"]) / side["seconds"] for name, side in results.items()
    }
    ratio = rates["post page"] / rates["baseline"]
    print(f"cores: {cores()}  gunicorn: 2 sync workers  clients: ", end="")
    print(f"{processes} processes x {tasks} tasks, {rounds} rounds of {seconds:g}s")
    for name, side in results.items():
        stats = summary_ms(side["latencies"])
        side["stats"] = stats
        print(
            f"{name}: {rates[name]:,.0f} requests/s, {side['errors']} errors, "
            f"{format_ms(stats)}"
        )
    print(f"post page / baseline: {ratio:.2f} (goal >= {GOAL})")
    print(
        "a page, counted in process: "
        + ", ".join(f"{name} {value:g}" for name, value in counted.items())
    )
    errors = sum(side["errors"] for side in results.values())
    figures: dict[str, Figure] = {}
    for name, side in results.items():
        figures |= {
            f"{name} rate": higher(rates[name], "requests/s"),
            f"{name} errors": lower(side["errors"], ""),
            **timing(name, side["stats"]),
        }
    return {
        "benchmark": "post page",
        "subject": {**results["post page"]["stats"], "rps": rates["post page"]},
        "baseline": {**results["baseline"]["stats"], "rps": rates["baseline"]},
        "value": ratio,
        "unit": "of the baseline's requests/s",
        "goal": GOAL,
        "goal_text": f">= {GOAL:g} of the baseline's requests/s, no errors",
        "goal_figure": "post page / baseline",
        "ratio_to_goal": ratio / GOAL,
        "ok": ratio >= GOAL and not errors,
        "parameters": {
            "gunicorn": "2 sync workers",
            "processes": processes,
            "tasks": tasks,
            "rounds": rounds,
            "seconds": seconds,
        },
        "figures": {
            **figures,
            "post page / baseline": higher(ratio, ""),
            **{f"a page, {name}": lower(value, "") for name, value in counted.items()},
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 s")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per side a round")
    parser.add_argument("--processes", type=int, default=cores())
    parser.add_argument("--tasks", type=int, default=4, help="per client process")
    args = parser.parse_args()
    rounds, seconds = (3, 1.0) if args.quick else (args.rounds, args.seconds)
    return run_benchmark(
        "post_page", partial(measure, rounds, seconds, args.processes, args.tasks)
    )


if __name__ == "__main__":
    sys.exit(main())
