"""Retweet & Like under 20 concurrent readers: the app's overhead over X's own time.

    .venv/bin/python -m bench.share            # 6 rounds
    .venv/bin/python -m bench.share --quick    # 3 rounds

A sandbox (X and the minter) and gunicorn (2 gthread workers x 10 threads,
production settings, the benchmark's database) run on loopback. Each round posts a
new tweet with a campaign; 20 signed-in, connected readers press Retweet & Like at
once (`POST /campaigns/<id>/share`, htmx). In the same round, 20 other sandbox
accounts make the same X calls directly (retweet, then like, httpx): the
baseline, X's own time at the same concurrency. The two phases alternate in order.
App overhead = the app's latency minus the direct calls' (median and p95). A last
round double-clicks (two concurrent requests per reader) and the run checks that no
reader was rewarded, retweeted or liked twice. Before the timed rounds, every reader
shares one campaign in this process (the same settings and sandbox) while
`bench.costs` counts what a share costs: SQL statements, transactions and those that
write, Redis round trips, connections and TLS contexts opened. Goals (issue 21):
overhead p95 at most 120 ms at 20 at once, one reader at a time at most 8 ms
(median), at most 6 SQL statements a share with one transaction that writes; zero
double rewards.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.common import (
    campaign_on_new_tweet,
    cleanup,
    cores,
    delete_prefixed_keys,
    format_ms,
    report,
    setup_django,
    start_gunicorn,
    summary_ms,
)
from bench.results import count, lower, timing
from devprocs import free_port
from sandbox.testing import Sandbox, SandboxProcess

if TYPE_CHECKING:
    from accounts.models import User

GOAL_MS = 120.0  # overhead p95, 20 readers at once
ALONE_GOAL_MS = 8.0  # overhead median, one reader at a time
SQL_GOAL = 6  # SQL statements a successful share
READERS = 20
# Rewards a share X accepted is in: confirmed on X later (shared) or at once.
ACCEPTED = ("shared", "verified")


def _start_sandbox() -> SandboxProcess:
    process = SandboxProcess(args=["--quiet"]).start()
    # Its registration and minter secret are in the bench settings already.
    os.environ.update(
        X_AUTHORIZE_URL=f"{process.url}/i/oauth2/authorize",
        X_API_BASE=f"{process.url}/2",
        BUX_MINTER_URL=f"{process.url}/minter",
    )
    return process


def _accounts(handle: Sandbox, kind: str) -> list[dict[str, Any]]:
    """READERS sandbox accounts with tokens: {key, id, username, token}."""
    accounts = []
    for n in range(READERS):
        key = f"{kind}{n}"
        account = handle.create_account(key, username=f"bench_{kind}_{n}")
        token = handle.connect(key)
        accounts.append({**account, "key": key, "token": token})
    return accounts


def _readers(accounts: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """App users connected to `accounts`, scored; (user id, session cookie)."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from rewards.mirror import set_user_x_multiplier
    from social.models import XConnection
    from social.services import upsert_x_connection
    from social.x_api import TokenSet, XUser

    readers = []
    for account in accounts:
        user = User.objects.create_user(
            email=f"{account['key']}@example.com",
            wallet_address="0x" + os.urandom(20).hex(),
        )
        token = account["token"]
        upsert_x_connection(
            user,
            profile=XUser(
                id=account["id"], username=account["username"], name="Reader"
            ),
            tokens=TokenSet(
                access_token=token["access_token"],
                refresh_token=token.get("refresh_token"),
                expires_in=token["expires_in"],
                scopes=tuple(token["scope"].split()),
            ),
        )
        XConnection.objects.filter(user=user).update(x_score=10)
        set_user_x_multiplier(user.pk, 10)
        client = Client()
        client.force_login(user)
        readers.append((user.pk, client.cookies[settings.SESSION_COOKIE_NAME].value))
    return readers


def _campaign(handle: Sandbox, author: User, n: int) -> tuple[int, str]:
    """A new tweet with a campaign on a new post: (campaign id, tweet id)."""
    campaign = campaign_on_new_tweet(handle, author, f"Share bench {n}")
    return campaign.pk, campaign.first_tweet.tweet_id


def _share(base: str, cookie: str, campaign_id: int) -> tuple[float, bool, str]:
    """One press of Retweet & Like: seconds, whether it succeeded, the message."""
    from django.conf import settings

    csrf = "b" * 32
    started = time.perf_counter()
    response = httpx.post(
        f"{base}/campaigns/{campaign_id}/share",
        cookies={
            settings.SESSION_COOKIE_NAME: cookie,
            settings.CSRF_COOKIE_NAME: csrf,
        },
        headers={"HX-Request": "true", "X-CSRFToken": csrf},
        timeout=30,
    )
    elapsed = time.perf_counter() - started
    # A success shows as the reward's new state; a refusal as an error message.
    found = re.search(
        r'class="(box-state done|message error)" role="status">\s*([^<]*)',
        response.text,
    )
    if response.status_code != 200 or found is None:
        return elapsed, False, f"HTTP {response.status_code}"
    return elapsed, found[1] == "box-state done", html.unescape(found[2].strip())


def _direct(account: dict[str, Any], tweet_id: str) -> tuple[float, bool]:
    """The same X calls made directly, on the account's keep-alive client (the
    app's X client keeps its connections too)."""
    client = account["client"]
    started = time.perf_counter()
    retweet = client.post(
        f"/users/{account['id']}/retweets", json={"tweet_id": tweet_id}
    )
    like = client.post(f"/users/{account['id']}/likes", json={"tweet_id": tweet_id})
    elapsed = time.perf_counter() - started
    return elapsed, retweet.status_code == 200 and like.status_code == 200


def _counted_shares(
    readers: list[tuple[int, str]], campaign_id: int
) -> tuple[dict[str, float], list[str]]:
    """Every reader shares the campaign through Django's test client in this
    process, counted by bench.costs: the costs per share and one share's SQL."""
    from django.conf import settings
    from django.test import Client

    from bench.costs import CostCounter

    clients = []
    for _, cookie in readers:
        client = Client(HTTP_HOST="127.0.0.1")
        client.cookies[settings.SESSION_COOKIE_NAME] = cookie
        clients.append(client)
    url = f"/campaigns/{campaign_id}/share"
    # The first share builds the process's X client: counted apart.
    clients[0].post(url, HTTP_HX_REQUEST="true")
    cpu: list[float] = []
    with CostCounter() as costs:
        for client in clients[1:]:
            started = time.thread_time()
            response = client.post(url, HTTP_HX_REQUEST="true")
            cpu.append(time.thread_time() - started)
            if "box-state done" not in response.content.decode():
                raise RuntimeError(f"a counted share failed: {response.status_code}")
    shares = len(clients) - 1
    # The CPU this process spent on a share (not PostgreSQL's, Redis's nor X's):
    # unlike its latency, barely moved by other work on the machine.
    per_share = {**costs.per(shares), "app cpu ms median": summary_ms(cpu)["median"]}
    return per_share, costs.statements[-len(costs.statements) // shares :]


def _doubles(
    sandbox_handle: Sandbox, campaigns: list[int], tweets: list[str]
) -> list[str]:
    """Every way a reader could have been rewarded twice; empty when none."""
    from django.db.models import Count

    from campaigns.models import ShareCampaign, ShareReward

    problems = []
    pairs = (
        ShareReward.objects.values("user_id", "campaign_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    problems += [f"two rewards for {pair}" for pair in pairs]
    for campaign in ShareCampaign.objects.filter(pk__in=campaigns):
        verified = ShareReward.objects.filter(
            campaign=campaign, status__in=("verified", "rewarded")
        ).count()
        if campaign.total_shares != verified:
            problems.append(f"campaign {campaign.pk}: {campaign.total_shares} shares")
    for kind in ("retweets", "likes"):
        seen: dict[tuple[str, str], int] = {}
        for item in getattr(sandbox_handle, kind)():
            if item["tweet_id"] in tweets:
                pair = (item["user_id"], item["tweet_id"])
                seen[pair] = seen.get(pair, 0) + 1
        problems += [f"{kind} twice: {pair}" for pair, n in seen.items() if n > 1]
    return problems


def measure(process: SandboxProcess, rounds: int, threads: int = 10) -> dict[str, Any]:
    from accounts.models import User
    from campaigns.models import ShareReward

    handle = Sandbox(process.url)
    handle.callback_url = handle.configure()["callback_urls"][0]
    unlimited = {"limit": 10**6}
    handle.configure(rate_limits={"retweet": unlimited, "like": unlimited})
    app_accounts, direct_accounts = _accounts(handle, "r"), _accounts(handle, "d")
    readers = _readers(app_accounts)
    for account in direct_accounts:
        token = account["token"]["access_token"]
        account["client"] = httpx.Client(
            base_url=handle.api_base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    author = User.objects.create_user(email="author@example.com")
    counted_campaign, counted_tweet = _campaign(handle, author, rounds + 2)
    costs, statements = _counted_shares(readers, counted_campaign)
    delete_prefixed_keys(pattern="*ratelimit*")  # the timed rounds start afresh
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="bench-share-")) / "gunicorn.log"
    server = start_gunicorn(port, workers=2, threads=threads, log=log)
    serving = (
        f"2 gthread workers x {threads} threads" if threads > 1 else "2 sync workers"
    )
    base = f"http://127.0.0.1:{port}"
    app: list[float] = []
    direct: list[float] = []
    serial_app: list[float] = []
    serial_direct: list[float] = []
    failures = 0
    campaigns: list[int] = [counted_campaign]
    tweets: list[str] = [counted_tweet]
    try:
        # One reader at a time first: the overhead of a share with no queueing.
        campaign_id, tweet_id = _campaign(handle, author, rounds + 1)
        campaigns.append(campaign_id)
        tweets.append(tweet_id)
        for (_, cookie), account in zip(readers, direct_accounts, strict=True):
            serial_app.append(_share(base, cookie, campaign_id)[0])
            serial_direct.append(_direct(account, tweet_id)[0])
        with ThreadPoolExecutor(2 * READERS) as pool:
            for n in range(rounds + 1):
                campaign_id, tweet_id = _campaign(handle, author, n)
                campaigns.append(campaign_id)
                tweets.append(tweet_id)
                if n == rounds:
                    break
                phases = ("app", "direct") if n % 2 == 0 else ("direct", "app")
                for phase in phases:
                    if phase == "app":
                        shares = list(
                            pool.map(
                                partial(_share, base, campaign_id=campaign_id),
                                [cookie for _, cookie in readers],
                            )
                        )
                        app += [elapsed for elapsed, _, _ in shares]
                        failures += sum(not ok for _, ok, _ in shares)
                    else:
                        calls = list(
                            pool.map(
                                partial(_direct, tweet_id=tweet_id),
                                direct_accounts,
                            )
                        )
                        direct += [elapsed for elapsed, _ in calls]
                        failures += sum(not ok for _, ok in calls)
            # The double-click round: the app's per-reader share limit
            # (campaigns.views.SHARES_PER_MINUTE) is reset first, so every click
            # reaches the share flow.
            delete_prefixed_keys(pattern="*ratelimit*")
            clicks = list(
                pool.map(
                    partial(_share, base, campaign_id=campaigns[-1]),
                    [cookie for _, cookie in readers] * 2,
                )
            )
            outcomes = Counter(message for _, _, message in clicks)
            print(f"double clicks ({READERS} readers x 2): {dict(outcomes)}")
    finally:
        server.stop()
        for account in direct_accounts:
            account["client"].close()
    errors = [line for line in log.read_text().splitlines() if '"ERROR"' in line]
    if errors:
        print(f"server errors ({len(errors)}), the first: {errors[0][:3000]}")
    doubles = _doubles(handle, campaigns, tweets)
    accepted = ShareReward.objects.filter(status__in=ACCEPTED).count()
    handle.close()

    app_stats, direct_stats = summary_ms(app), summary_ms(direct)
    overhead = {
        "median": app_stats["median"] - direct_stats["median"],
        "p95": app_stats["p95"] - direct_stats["p95"],
        "p99": app_stats["p99"] - direct_stats["p99"],
    }
    serial_app_stats = summary_ms(serial_app)
    serial_direct_stats = summary_ms(serial_direct)
    serial = serial_app_stats["median"] - serial_direct_stats["median"]
    print(f"cores: {cores()}  gunicorn: {serving}")
    print(
        f"one reader at a time: app {format_ms(serial_app_stats)}"
        f"; direct {format_ms(serial_direct_stats)}; "
        f"overhead median {serial:.1f} ms"
    )
    print(f"readers: {READERS} at once, {rounds} rounds + a double-click round")
    print(f"app (POST share): {format_ms(app_stats)}, {failures} failed")
    print(f"direct X calls (retweet + like): {format_ms(direct_stats)}")
    print(
        f"app overhead: median {overhead['median']:.1f} ms  p95 {overhead['p95']:.1f}"
        f" ms  p99 {overhead['p99']:.1f} ms (goal p95 <= {GOAL_MS:.0f} ms)"
    )
    expected = READERS * (rounds + 3)
    print(
        f"shares X accepted: {accepted} (expected {expected}); "
        f"double rewards: {len(doubles)}"
    )
    for problem in doubles[:10]:
        print(f"  {problem}")
    print(
        "a share, counted in process: "
        + ", ".join(f"{value:g} {name}" for name, value in costs.items())
        + f" (goal <= {SQL_GOAL} SQL statements, 1 write transaction; "
        f"alone: overhead median goal <= {ALONE_GOAL_MS:g} ms)"
    )
    for sql in statements:
        print(f"  {' '.join(sql.split())[:160]}")
    ok = (
        overhead["p95"] <= GOAL_MS
        and not doubles
        and not failures
        and accepted == expected
    )
    return {
        "benchmark": "share",
        "subject": app_stats,
        "baseline": direct_stats,
        "overhead": overhead,
        "value": overhead["p95"],
        "unit": "ms app overhead p95",
        "goal": GOAL_MS,
        "goal_text": (
            f"app overhead p95 <= {GOAL_MS:g} ms, zero double rewards, no failures"
            f" (and alone <= {ALONE_GOAL_MS:g} ms, <= {SQL_GOAL} SQL a share)"
        ),
        "goal_figure": "overhead p95",
        "ratio_to_goal": overhead["p95"] / GOAL_MS,
        "double_rewards": len(doubles),
        "serial_overhead_median": serial,
        "ok": ok,
        "parameters": {
            "gunicorn": serving,
            "readers": READERS,
            "rounds": rounds,
        },
        "figures": {
            **timing("alone: app", serial_app_stats),
            **timing("alone: direct X calls (baseline)", serial_direct_stats),
            "alone: overhead median": lower(serial, "ms"),
            **timing("app", app_stats),
            "failed": lower(failures, ""),
            **timing("direct X calls (baseline)", direct_stats),
            **{f"overhead {name}": lower(overhead[name], "ms") for name in overhead},
            "shares accepted": count(accepted),
            "shares accepted expected": count(expected),
            **{f"a share: {name}": lower(value, "") for name, value in costs.items()},
            "double rewards": lower(len(doubles), ""),
            "server errors": lower(len(errors), ""),
            **{
                f"double clicks: {message}": count(n) for message, n in outcomes.items()
            },
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--threads",
        type=int,
        default=10,
        help="threads per gunicorn worker (gthread); 1 runs sync workers",
    )
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    process = _start_sandbox()
    try:
        setup_django("share")
        try:
            result = measure(process, rounds, args.threads)
        finally:
            cleanup()
    finally:
        process.stop()
        process.cleanup()
    report(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
