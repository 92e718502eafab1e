"""Soak test: the whole stack under concurrent readers and injected faults, then
the invariants that must hold whatever broke.

    make soak                                   # 60 s, embedded PostgreSQL
    make soak SOAK_ARGS="--seconds 600"
    make soak SOAK_ARGS="--idempotent-minter"   # a minter honouring Idempotency-Key
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.soak --seconds 30

Starts, on free loopback ports: a fresh database on the server of DATABASE_URL
(created, migrated, dropped at the end), its own Redis (restartable empty), the
sandbox (X and the minter: by default one that ignores Idempotency-Key, with
BUX_MINTER_IDEMPOTENT=0, as in production), the app under gunicorn and two prefork
Celery workers.
The sweeper (`sweep_rewards_task`) and the mirror repair (`repair_mirror_task`) run
from this process on a fast schedule in place of beat. Readers log in, connect X
through the real OAuth flow and press Retweet & Like as the htmx box does, while
faults strike X, the minter, Redis, a worker and PostgreSQL. Afterwards the run
waits (bounded) for the sweeper and retries to converge, repairs and re-checks the
mirror, prints its figures and an invariant table, and exits 1 on any violation.
Described in docs/soak.md.
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from bench.common import ROOT
from bench.soak_stack import CeleryWorker, Gunicorn, RedisServer, SoakDatabase
from blockster.devstack import free_port, manage
from sandbox.testing import Sandbox, SandboxProcess

if TYPE_CHECKING:
    from accounts.models import User

SWEEP_EVERY = 5.0
REPAIR_EVERY = 20.0
DOUBLE_CLICK = 0.15
BOX_POLLS = 3
CSRF_HEADER = re.compile(r'"X-CSRFToken":\s*"([^"]+)"')
# A refusal is told by an error message; a success by the reward's own state line.
MESSAGE = re.compile(r'<p class="(message \w+|box-state done)"[^>]*>(.*?)</p>', re.S)
TAG = re.compile(r"<[^>]+>")
# Tight timeouts so a short run converges; the hang faults below outlast them.
X_CONNECT_TIMEOUT = 2.0
X_READ_TIMEOUT = 2.0
MINTER_CONNECT_TIMEOUT = 2.0
MINTER_READ_TIMEOUT = 3.0
# Longer than the longest mint request (connect + read timeouts), twice over.
MINT_LEASE_SECONDS = 2 * (MINTER_CONNECT_TIMEOUT + MINTER_READ_TIMEOUT)


# --- Figures ----------------------------------------------------------------------


@dataclass
class Figures:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    share_seconds: list[float] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)

    def request(self, kind: str, status: int, seconds: float = 0.0) -> None:
        with self.lock:
            self.requests[(kind, status)] += 1
            if kind == "share POST":
                self.share_seconds.append(seconds)

    def count(self, counter: str, label: str, amount: int = 1) -> None:
        with self.lock:
            getattr(self, counter)[label] += amount


# --- Campaigns and readers --------------------------------------------------------


@dataclass
class Campaign:
    id: int
    slug: str
    tweet_id: str
    places: int


class CampaignPool:
    """The campaigns readers choose from; a full one is replaced by a new one while
    the load runs, so long runs keep sharing rather than only being refused."""

    def __init__(self, sandbox: Sandbox, places: int, open_target: int) -> None:
        self.sandbox, self.places, self.open_target = sandbox, places, open_target
        self.lock = threading.Lock()
        self.all: list[Campaign] = []
        self.full: set[int] = set()
        self.author: User | None = None

    def create(self) -> Campaign:
        from django.utils import timezone

        from accounts.models import User
        from campaigns.services import create_share_campaign
        from posts.models import Post

        if self.author is None:
            self.author = User.objects.create_user("editor@soak.test", is_staff=True)
        number = len(self.all) + 1
        tweet = self.sandbox.create_tweet(f"Soak campaign {number}: read and earn BUX.")
        post = Post.objects.create(
            title=f"Soak post {number}",
            slug=f"soak-post-{number}",
            body="A post whose campaign the soak readers share.",
            author=self.author,
            is_published=True,
            published_at=timezone.now(),
        )
        campaign = create_share_campaign(
            post,
            tweet_url=tweet["url"],
            bux_reward=Decimal("10"),
            max_participants=self.places,
        )
        made = Campaign(campaign.pk, post.slug, campaign.tweet_id, self.places)
        with self.lock:
            self.all.append(made)
        return made

    def replenish(self) -> int:
        """Mark full campaigns and open new ones up to the target; returns how many
        were opened."""
        from campaigns.models import ShareCampaign
        from campaigns.services import is_campaign_full

        with self.lock:
            candidates = [c for c in self.all if c.id not in self.full]
        for campaign in candidates:
            if is_campaign_full(ShareCampaign.objects.get(pk=campaign.id)):
                with self.lock:
                    self.full.add(campaign.id)
        opened = 0
        while len(self.all) - len(self.full) < self.open_target:
            self.create()
            opened += 1
        return opened

    def pick(self, done: set[int], rng: random.Random) -> Campaign:
        with self.lock:
            fresh = [c for c in self.all if c.id not in done and c.id not in self.full]
            return rng.choice(fresh or self.all)


@dataclass
class Reader:
    number: int
    account_key: str
    client: httpx.Client
    user_id: int = 0
    csrf: str = ""
    done: set[int] = field(default_factory=set)


def create_readers(
    count: int, sandbox: Sandbox, app_url: str, rng: random.Random
) -> list[Reader]:
    """Site users with wallets, logged in through Django's session machinery (the
    password login is left out: a million PBKDF2 rounds per reader cost more CPU
    than the whole load), each with a fresh sandbox X account to connect."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from accounts.validators import normalize_wallet_address

    readers = []
    for number in range(1, count + 1):
        wallet = normalize_wallet_address("0x" + rng.randbytes(20).hex())
        user = User.objects.create_user(
            f"reader{number}@soak.test", wallet_address=wallet
        )
        key = f"soak{number}"
        sandbox.create_account(
            key,
            username=f"soak_reader_{number}",
            followers_count=rng.randint(0, 20000),
            following_count=rng.randint(1, 2000),
            tweet_count=rng.randint(0, 5000),
            listed_count=rng.randint(0, 40),
        )
        login = Client()
        login.force_login(user)
        client = httpx.Client(base_url=app_url, timeout=30)
        session = login.cookies[settings.SESSION_COOKIE_NAME].value
        client.cookies.set(settings.SESSION_COOKIE_NAME, session)
        readers.append(Reader(number, key, client, user_id=user.pk))
    return readers


def connect_x(reader: Reader, sandbox_url: str) -> None:
    """The real connect flow over HTTP: the app's authorize redirect, the sandbox's
    consent page, the app's callback (code exchange, profile, score queued)."""
    consent = Sandbox(sandbox_url)
    try:
        start = reader.client.get("/auth/x/authorize", params={"redirect_to": "/"})
        if start.status_code != 302:
            raise RuntimeError(f"authorize answered {start.status_code}")
        location = consent.authorize(
            start.headers["location"], account=reader.account_key
        )
        callback = reader.client.get(location)
        if callback.status_code != 302:
            raise RuntimeError(f"callback answered {callback.status_code}")
    finally:
        consent.close()


# --- Load -------------------------------------------------------------------------


def _shape(message: str) -> str:
    # Amounts and reset times vary; the message shape is what is counted.
    return re.sub(r"\d[\d,:.]*", "N", message)


def _outcome(response: httpx.Response) -> tuple[bool, str]:
    match = MESSAGE.search(response.text)
    if match is None:
        return False, f"HTTP {response.status_code} without a message"
    message = html.unescape(" ".join(TAG.sub("", match[2]).split()))
    return "error" not in match[1], _shape(message)


def _get(reader: Reader, kind: str, path: str, figures: Figures) -> httpx.Response:
    started = time.monotonic()
    response = reader.client.get(path)
    figures.request(kind, response.status_code, time.monotonic() - started)
    return response


def _share(
    reader: Reader, campaign: Campaign, figures: Figures, done: set[str]
) -> bool:
    started = time.monotonic()
    try:
        response = reader.client.post(
            f"/campaigns/{campaign.id}/share",
            headers={"X-CSRFToken": reader.csrf, "HX-Request": "true"},
        )
    except httpx.HTTPError as error:
        figures.count("errors", f"share POST: {type(error).__name__}")
        return False
    figures.request("share POST", response.status_code, time.monotonic() - started)
    if redis_is_down.is_set():
        status = response.status_code
        figures.count("notes", f"share POSTs while Redis was down: HTTP {status}")
    if response.status_code >= 500:
        figures.count("errors", f"share POST: HTTP {response.status_code}")
        return False
    ok, label = _outcome(response)
    figures.count("outcomes", label)
    if ok or label in done:
        reader.done.add(campaign.id)
    return ok


def reader_loop(
    reader: Reader,
    pool: CampaignPool,
    figures: Figures,
    stop: threading.Event,
    rng: random.Random,
    *,
    pause: tuple[float, float],
    done: set[str],
) -> None:
    # Readers arrive over the first seconds rather than all at once.
    stop.wait(rng.uniform(0, 3))
    while not stop.is_set():
        campaign = pool.pick(reader.done, rng)
        try:
            page = _get(reader, "page GET", f"/{campaign.slug}", figures)
        except httpx.HTTPError as error:
            figures.count("errors", f"page GET: {type(error).__name__}")
            stop.wait(1)
            continue
        if page.status_code >= 500:
            figures.count("errors", f"page GET: HTTP {page.status_code}")
        if match := CSRF_HEADER.search(page.text):
            reader.csrf = match[1]
        if rng.random() < DOUBLE_CLICK:
            # Two posts at once, as an impatient double click sends them.
            with ThreadPoolExecutor(2) as clicks:
                both = [
                    clicks.submit(_share, reader, campaign, figures, done) for _ in "12"
                ]
                results = [click.result() for click in both]
            figures.count("notes", "double clicks")
        else:
            results = [_share(reader, campaign, figures, done)]
        if any(results):
            _watch_box(reader, campaign, figures, stop)
        stop.wait(rng.uniform(*pause))


def _watch_box(
    reader: Reader, campaign: Campaign, figures: Figures, stop: threading.Event
) -> None:
    """Poll the box while it says it is minting, as htmx does every 3 s."""
    for _ in range(BOX_POLLS):
        if stop.wait(1.5):
            return
        try:
            box = _get(reader, "box GET", f"/campaigns/{campaign.id}/box", figures)
        except httpx.HTTPError as error:
            figures.count("errors", f"box GET: {type(error).__name__}")
            return
        if box.status_code >= 500:
            figures.count("errors", f"box GET: HTTP {box.status_code}")
        if 'data-state="minting"' not in box.text:
            if 'data-state="rewarded"' in box.text:
                figures.count("notes", "boxes seen turning to earned")
            elif 'data-state="operator"' in box.text:
                figures.count("notes", "boxes seen telling of a delay")
            return


# --- Faults -----------------------------------------------------------------------

RETWEET = "POST /2/users/:id/retweets"
LIKE = "POST /2/users/:id/likes"
MINT = "POST /minter/mint"


# Longer than the stack's read timeouts, so the app gives up before the answer.
X_HANG = X_READ_TIMEOUT + 2
MINT_HANG = MINTER_READ_TIMEOUT + 3


def _short_reset() -> dict[str, str]:
    # The app believes X's reset time; a short one keeps the reader in the run.
    return {"x-rate-limit-reset": str(int(time.time()) + 5)}


# (label, route, Sandbox.fault keywords); a callable value is evaluated when sent.
SANDBOX_FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    ("retweet 429", RETWEET, {"status": 429, "times": 2, "headers": _short_reset}),
    ("retweet 500", RETWEET, {"status": 500, "times": 2}),
    ("mint 500", MINT, {"status": 500, "times": 2}),
    ("retweet timeout, not retweeted", RETWEET, {"hang": X_HANG}),
    ("like 500", LIKE, {"status": 500}),
    ("mint timeout after minting", MINT, {"hang": MINT_HANG, "when": "after"}),
    ("retweet timeout after retweeting", RETWEET, {"hang": X_HANG, "when": "after"}),
    ("like 429", LIKE, {"status": 429, "headers": _short_reset}),
    ("mint dropped after minting", MINT, {"drop": True, "when": "after"}),
    ("retweet dropped after retweeting", RETWEET, {"drop": True, "when": "after"}),
    ("retweet 503", RETWEET, {"status": 503}),
    ("mint 500 after minting", MINT, {"status": 500, "when": "after"}),
    ("mint 504 after minting", MINT, {"status": 504, "when": "after"}),
    ("like timeout", LIKE, {"hang": X_HANG}),
    ("retweet dropped, not retweeted", RETWEET, {"drop": True, "when": "before"}),
    ("mint timeout, not minted", MINT, {"hang": MINT_HANG}),
    ("like dropped", LIKE, {"drop": True}),
]
SANDBOX_FAULT_EVERY = 2.0
# The whole Redis (broker, cache and sessions, mirror) stays away this long while
# readers keep sharing.
REDIS_DOWN_SECONDS = 5.0
REDIS_DOWN = f"Redis killed, down {REDIS_DOWN_SECONDS:g} s, restarted empty"
# (label, first at, then every) in seconds from the start of the load; each label is
# a FaultInjector method in INFRA_ACTIONS.
INFRA_FAULTS = [
    ("mint task copies published at once", 4.0, 6.0),
    ("PostgreSQL connections terminated", 10.0, 20.0),
    ("Celery worker SIGKILLed and restarted", 15.0, 30.0),
    ("Redis killed and restarted empty", 25.0, 60.0),
    (REDIS_DOWN, 45.0, 60.0),
]
# Set while Redis is held down, so the answers readers get meanwhile are counted.
redis_is_down = threading.Event()
# Copies of one reward's mint task sent together, as a redelivery racing the
# sweeper's re-queue would; for this many of the rewards verified last.
MINT_COPIES = 4
MINT_COPIED_REWARDS = 3


def fault_schedule(seconds: float) -> list[tuple[float, str]]:
    events = []
    at, index = 1.0, 0
    while at < seconds:
        events.append((at, SANDBOX_FAULTS[index % len(SANDBOX_FAULTS)][0]))
        at, index = at + SANDBOX_FAULT_EVERY, index + 1
    for label, first, every in INFRA_FAULTS:
        at = first
        while at < seconds:
            events.append((at, label))
            at += every
    return sorted(events)


class FaultInjector:
    def __init__(
        self,
        sandbox: Sandbox,
        database: SoakDatabase,
        redis: RedisServer,
        workers: list[CeleryWorker],
        figures: Figures,
    ) -> None:
        self.sandbox, self.database, self.redis = sandbox, database, redis
        self.workers, self.figures = workers, figures
        self.by_label = {label: (route, spec) for label, route, spec in SANDBOX_FAULTS}
        self.infra: dict[str, Callable[[], None]] = {
            "mint task copies published at once": self.publish_mint_copies,
            "PostgreSQL connections terminated": self.terminate_database_sessions,
            "Celery worker SIGKILLed and restarted": self.kill_a_worker,
            "Redis killed and restarted empty": self.redis.restart_empty,
            REDIS_DOWN: self.hold_redis_down,
        }
        self.kills = 0

    def run(self, seconds: float, stop: threading.Event) -> None:
        started = time.monotonic()
        for at, label in fault_schedule(seconds):
            if stop.wait(max(0.0, started + at - time.monotonic())):
                return
            try:
                self.inject(label)
            except Exception as error:
                self.figures.count("errors", f"fault {label}: {type(error).__name__}")

    def inject(self, label: str) -> None:
        if label in self.by_label:
            route, spec = self.by_label[label]
            values = {k: v() if callable(v) else v for k, v in spec.items()}
            self.sandbox.fault(route, **values)
        else:
            self.infra[label]()
        self.figures.count("faults", label)

    def terminate_database_sessions(self) -> None:
        ended = self.database.terminate_connections()
        self.figures.count("notes", "PostgreSQL sessions terminated", ended)

    def kill_a_worker(self) -> None:
        worker = self.workers[self.kills % len(self.workers)]
        self.kills += 1
        worker.kill()
        time.sleep(1.0)
        worker.restart()

    def hold_redis_down(self) -> None:
        redis_is_down.set()
        try:
            self.redis.restart_empty(down_for=REDIS_DOWN_SECONDS)
        finally:
            redis_is_down.clear()

    def publish_mint_copies(self) -> None:
        """Copies of the mint task of the rewards verified last, all sent at once:
        between them (and the copy already queued) one mint request may go out."""
        from django.db import connection

        from campaigns.models import ShareReward
        from rewards.tasks import mint_bux_task

        try:
            latest = list(
                ShareReward.objects.filter(status=ShareReward.Status.VERIFIED)
                .order_by("-verified_at")
                .values_list("pk", flat=True)[:MINT_COPIED_REWARDS]
            )
        finally:
            connection.close()
        copies = [reward_id for reward_id in latest for _ in range(MINT_COPIES)]
        with ThreadPoolExecutor(len(copies) or 1) as publishing:
            list(publishing.map(mint_bux_task.delay, copies))
        self.figures.count("notes", "mint task copies published", len(copies))


# --- Sweeper ----------------------------------------------------------------------


def sweep_once(figures: Figures, *, repair: bool) -> None:
    """What beat would run: the sweeper, and now and then the mirror repair."""
    from django.db import close_old_connections, connection

    from rewards.tasks import repair_mirror_task, sweep_rewards_task

    tasks = [sweep_rewards_task, *([repair_mirror_task] if repair else [])]
    for task in tasks:
        result = task.apply()
        name = task.name.rsplit(".", 1)[-1]
        summary = result.result  # the task's dict, or the exception it raised
        if isinstance(summary, BaseException):
            figures.count("errors", f"{name}: {type(summary).__name__}")
            # A terminated session stays broken until closed.
            connection.close()
        else:
            figures.count("notes", f"{name} runs")
            if name == "sweep_rewards_task":
                queued = summary["queued"]
                figures.count("notes", "mints re-queued by the sweeper", queued)
                flagged = summary["flagged"]
                figures.count(
                    "notes", "mints handed to an operator by the sweeper", flagged
                )
    close_old_connections()


def sweeper_loop(pool: CampaignPool, figures: Figures, stop: threading.Event) -> None:
    from django.db import connection

    last_repair = time.monotonic()
    while not stop.wait(SWEEP_EVERY):
        repair = time.monotonic() - last_repair >= REPAIR_EVERY
        try:
            sweep_once(figures, repair=repair)
            figures.count("notes", "campaigns opened", pool.replenish())
        except Exception as error:
            figures.count("errors", f"sweeper: {type(error).__name__}")
            connection.close()
        if repair:
            last_repair = time.monotonic()


# --- The run ----------------------------------------------------------------------


class Overrun(Exception):
    pass


def _raise_overrun(signum: int, frame: Any) -> None:
    raise Overrun("the soak overran its time budget")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def running_threads(
    targets: list[Callable[[], None]], stop: threading.Event
) -> Iterator[None]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        deadline = time.monotonic() + 45
        for thread in threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))


def stack_environment(
    *,
    database_url: str,
    redis_url: str,
    app_url: str,
    sandbox: Sandbox,
    idempotent_minter: bool,
) -> dict[str, str]:
    """Settings for every process of the stack: X and the minter on the sandbox,
    tight timeouts and fast retries so a short run converges."""
    return {
        "DJANGO_SETTINGS_MODULE": "blockster.settings",
        "DEBUG": "1",
        "SANDBOX": "1",
        "SITE_URL": app_url,
        "SANDBOX_URL": sandbox.url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "REDIS_KEY_PREFIX": "",
        "X_AUTHORIZE_URL": sandbox.authorize_url,
        "X_API_BASE": sandbox.api_base,
        "X_CLIENT_ID": sandbox.client_id,
        "X_CLIENT_SECRET": sandbox.client_secret,
        "X_CALLBACK_URL": f"{app_url}/auth/x/callback",
        "BUX_MINTER_URL": sandbox.minter_url,
        "BUX_MINTER_SECRET": sandbox.minter_secret,
        "BUX_MINTER_IDEMPOTENT": "1" if idempotent_minter else "0",
        "X_CONNECT_TIMEOUT": f"{X_CONNECT_TIMEOUT:g}",
        "X_READ_TIMEOUT": f"{X_READ_TIMEOUT:g}",
        "BUX_MINTER_CONNECT_TIMEOUT": f"{MINTER_CONNECT_TIMEOUT:g}",
        "BUX_MINTER_READ_TIMEOUT": f"{MINTER_READ_TIMEOUT:g}",
        "BUX_MINT_RETRY_BASE_SECONDS": "1",
        "BUX_MINT_LEASE_SECONDS": f"{MINT_LEASE_SECONDS:.0f}",
        "REDIS_SOCKET_TIMEOUT": "1",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "plain",
    }


def minter_mode_args(*, idempotent: bool) -> list[str]:
    """The sandbox minter as production's (every request mints), or honouring
    Idempotency-Key."""
    return [] if idempotent else ["--minter-ignores-idempotency-key"]


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.figures = Figures()
        self.database = SoakDatabase(os.environ["DATABASE_URL"])
        self.log_dir = ROOT / ".data" / "soak" / self.database.name
        self.redis: RedisServer | None = None
        self.sandbox_process: SandboxProcess | None = None
        self.sandbox: Sandbox | None = None
        self.web: Gunicorn | None = None
        self.workers: list[CeleryWorker] = []
        self.readers: list[Reader] = []
        self.timings: dict[str, float] = {}

    # Stack -------------------------------------------------------------------------

    def start_stack(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        say(f"logs in {self.log_dir.relative_to(ROOT)}")
        self.database.create()
        say(f"database {self.database.name} created")
        self.redis = RedisServer(self.log_dir)
        self.redis.start()
        app_port = free_port()
        app_url = f"http://127.0.0.1:{app_port}"
        self.sandbox_process = SandboxProcess(
            state_file=self.log_dir / "sandbox-state.json",
            log_file=self.log_dir / "sandbox.log",
            args=[
                "--quiet",
                "--callback-url",
                f"{app_url}/auth/x/callback",
                *minter_mode_args(idempotent=self.args.idempotent_minter),
            ],
        ).start()
        self.sandbox = Sandbox(self.sandbox_process.url)
        environment = stack_environment(
            database_url=self.database.url,
            redis_url=self.redis.url,
            app_url=app_url,
            sandbox=self.sandbox,
            idempotent_minter=self.args.idempotent_minter,
        )
        # This process reads the same settings: it sets up data, sweeps and checks.
        os.environ.update(environment)
        env = dict(os.environ)
        migrate = subprocess.run(
            manage("migrate", "--noinput"), env=env, capture_output=True, text=True
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrate.stderr[-2000:]}")
        import django

        django.setup()
        self._log_to_file()
        self.web = Gunicorn(port=app_port, env=env, log_dir=self.log_dir)
        self.workers = [CeleryWorker(n, env=env, log_dir=self.log_dir) for n in (1, 2)]
        for process in (self.web, *self.workers):
            process.start()
        self.web.wait_ready()
        for worker in self.workers:
            worker.wait_ready()
        say(
            f"stack up: app {app_url}, sandbox {self.sandbox.url}, "
            f"redis {self.redis.url}, 2 workers"
        )

    def _log_to_file(self) -> None:
        """This process's own logs (the sweeper's tasks, mirror writes while Redis
        is down) go beside the others, so the console shows the soak's report."""
        import logging

        self.log_file = open(self.log_dir / "soak.log", "a")  # noqa: SIM115
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(self.log_file)

    def stop_app(self) -> None:
        """Web and workers stop before the checks, so nothing moves under them."""
        for process in (self.web, *self.workers):
            if process is not None:
                process.stop()

    def cleanup(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.stop_app()
        for reader in self.readers:
            reader.client.close()
        if self.sandbox is not None:
            self.sandbox.close()
        if self.sandbox_process is not None:
            self.sandbox_process.stop()
        if self.redis is not None:
            self.redis.stop()
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        try:
            self.database.drop()
        except Exception as error:
            say(f"could not drop {self.database.name}: {error}")

    # Phases ------------------------------------------------------------------------

    def set_up_world(self) -> CampaignPool:
        assert self.sandbox is not None and self.web is not None
        started = time.monotonic()
        pool = CampaignPool(self.sandbox, self.args.places, self.args.campaigns)
        for _ in range(self.args.campaigns):
            pool.create()
        self.readers = create_readers(
            self.args.readers, self.sandbox, self.web.url, self.rng
        )
        connect = partial(connect_x, sandbox_url=self.sandbox.url)
        with ThreadPoolExecutor(8) as connecting:
            list(connecting.map(connect, self.readers))
        from social.models import XConnection

        connected = XConnection.objects.count()
        if connected != len(self.readers):
            raise RuntimeError(f"{connected} of {len(self.readers)} readers connected")
        self.timings["setup"] = time.monotonic() - started
        say(
            f"{len(self.readers)} readers connected to X over OAuth, "
            f"{self.args.campaigns} campaigns of {self.args.places} places"
        )
        return pool

    def load(self, pool: CampaignPool) -> None:
        from campaigns.services import AlreadyShared, ShareInProgress
        from campaigns.views import SHARES_PER_MINUTE

        assert self.sandbox is not None and self.redis is not None
        stop = threading.Event()
        injector = FaultInjector(
            self.sandbox, self.database, self.redis, self.workers, self.figures
        )
        seconds = self.args.seconds
        # Readers press about as often as the app's share limit allows, so double
        # clicks sometimes push them over it (answered 429).
        interval = 60 / SHARES_PER_MINUTE
        pause = (0.6 * interval, 1.2 * interval)
        # Refusals that mean the reader's share of the campaign exists already.
        done = {_shape(c.user_message) for c in (AlreadyShared, ShareInProgress)}
        targets: list[Callable[[], None]] = [
            partial(
                reader_loop,
                reader,
                pool,
                self.figures,
                stop,
                random.Random(self.args.seed * 1000 + n),
                pause=pause,
                done=done,
            )
            for n, reader in enumerate(self.readers)
        ]
        targets += [
            partial(injector.run, seconds, stop),
            partial(sweeper_loop, pool, self.figures, stop),
        ]
        say(f"load for {seconds:.0f} s with faults")
        started = time.monotonic()
        with running_threads(targets, stop):
            stop.wait(seconds)
        self.timings["load"] = time.monotonic() - started

    def converge(self) -> None:
        """Faults off, every process up, then the sweeper until every verified
        reward is minted or in the operator queue (`rewards_to_sweep` re-queues only
        rewards left quiet; a lost mint's lease must run out), within a bound."""
        from django.db import connection

        from campaigns.models import ShareReward

        assert self.sandbox is not None
        pending_faults = self.sandbox._control("GET", "/faults")
        self.figures.count("notes", "faults never struck", len(pending_faults))
        self.sandbox.clear_faults()
        for worker in self.workers:
            if not worker.alive:
                worker.restart()
        say("converging: sweeper and retries, faults off")
        started = time.monotonic()
        deadline = started + self.args.converge_seconds
        while True:
            try:
                sweep_once(self.figures, repair=False)
                unminted = ShareReward.objects.filter(
                    status="verified", needs_operator=False
                ).count()
            except Exception as error:
                self.figures.count("errors", f"converge: {type(error).__name__}")
                connection.close()
                unminted = -1
            if unminted == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        self.timings["converge"] = time.monotonic() - started

    def check_mirror(self) -> tuple[bool, str, str]:
        """`check_mirror --repair`, then `check_mirror`, which must find no drift."""
        env = dict(os.environ)
        repair = subprocess.run(
            manage("check_mirror", "--repair"), env=env, capture_output=True, text=True
        )
        check = subprocess.run(
            manage("check_mirror"), env=env, capture_output=True, text=True
        )
        repaired = (repair.stdout.strip().splitlines() or ["no output"])[-1]
        final = (check.stdout + check.stderr).strip().splitlines() or ["no output"]
        return check.returncode == 0, repaired, final[-1]

    def run(self) -> int:
        self.start_stack()
        from bench.soak_checks import check_invariants, print_invariants

        pool = self.set_up_world()
        self.load(pool)
        self.converge()
        self.stop_app()
        in_sync, repaired, final = self.check_mirror()
        assert self.sandbox is not None
        mints, retweets = self.sandbox.mints(), self.sandbox.retweets()
        invariants = check_invariants(
            mints=mints,
            retweets=retweets,
            sweep_period=SWEEP_EVERY,
            mirror_in_sync=in_sync,
            mirror_detail=final,
        )
        self.print_figures(mints, retweets, repaired, final)
        print_invariants(invariants)
        violations = sum(i.violations for i in invariants)
        if violations:
            print(f"\nFAILED: {violations} violation(s); logs in {self.log_dir}")
            return 1
        print("\nOK: every invariant holds.")
        return 0

    # Report ------------------------------------------------------------------------

    def print_figures(
        self,
        mints: list[dict[str, Any]],
        retweets: list[dict[str, Any]],
        repaired: str,
        final: str,
    ) -> None:
        from django.db.models import Count, Sum

        from campaigns.models import ShareCampaign, ShareReward

        f = self.figures
        mode = "idempotent minter" if self.args.idempotent_minter else "production"
        print(f"\n== soak figures (seed {self.args.seed}, {mode} mode)")
        print(
            f"load {self.timings['load']:.0f} s, setup {self.timings['setup']:.1f} s, "
            f"convergence {self.timings['converge']:.1f} s; "
            f"{len(self.readers)} readers, "
            f"{ShareCampaign.objects.count()} campaigns of {self.args.places} places"
        )
        print("requests:")
        for kind in ("page GET", "share POST", "box GET"):
            statuses = {s: n for (k, s), n in f.requests.items() if k == kind}
            described = ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items()))
            print(f"  {kind:<11}{sum(statuses.values()):>7,}   ({described})")
        if f.share_seconds:
            quantiles = statistics.quantiles(f.share_seconds, n=20)
            print(
                f"  share POST latency p50 {statistics.median(f.share_seconds):.2f} s,"
                f" p95 {quantiles[18]:.2f} s, max {max(f.share_seconds):.2f} s"
            )
        _print_counter("share outcomes (message shown)", f.outcomes)
        _print_counter("errors", f.errors)
        _print_counter("faults injected", f.faults)
        _print_counter("other", Counter({k: v for k, v in f.notes.items() if k}))
        by_status = dict(
            ShareReward.objects.values_list("status").annotate(n=Count("pk"))
        )
        minted = ShareReward.objects.filter(status="rewarded").aggregate(
            bux=Sum("bux_rewarded")
        )["bux"]
        print(
            "rewards: "
            + ", ".join(f"{s} {by_status.get(s, 0):,}" for s in ShareReward.Status)
            + f"; mints at the minter {len(mints):,}; BUX minted {minted or 0:,.0f}"
        )
        _print_operator_queue(mints)
        _print_pending(retweets)
        print(f"mirror: repair: {repaired}  then check: {final}")


def _print_operator_queue(mints: list[dict[str, Any]]) -> None:
    """Rewards left to an operator, and what the minter's records would show them:
    a mint to record, or none (retry)."""
    from campaigns.models import ShareReward

    keys = Counter(str(mint.get("idempotencyKey")) for mint in mints)
    queue = ShareReward.objects.filter(status="verified", needs_operator=True)
    reasons: Counter[str] = Counter()
    minted = 0
    for reward in queue:
        minted += keys[f"share-reward-{reward.pk}"] > 0
        reasons[_shape(re.split(r"[:.(]", reward.failure_reason)[0].strip())] += 1
    total = sum(reasons.values())
    print(
        f"operator queue: {total:,} ({minted:,} minted at the minter: record; "
        f"{total - minted:,} not: retry)"
    )
    for reason, count in reasons.most_common():
        print(f"  {count:>7,}  {reason}")


def _print_pending(retweets: list[dict[str, Any]]) -> None:
    """Claims left pending by a request that failed after claiming (the sweeper
    frees them after `STALE_CLAIM_AGE`); whether X has the retweet says if a share
    was done at X but not yet counted."""
    from campaigns.models import ShareReward
    from campaigns.services import STALE_CLAIM_AGE

    pending = ShareReward.objects.filter(status="pending").select_related(
        "campaign", "x_connection"
    )
    if not pending:
        return
    done = {(str(rt["user_id"]), str(rt["tweet_id"])) for rt in retweets}
    at_x = sum(
        (r.x_connection.x_user_id, r.campaign.tweet_id) in done
        for r in pending
        if r.x_connection is not None
    )
    print(
        f"pending claims left by failed requests: {len(pending)} "
        f"({at_x} of them retweeted at X), freed by the sweeper after "
        f"{STALE_CLAIM_AGE.total_seconds() / 60:g} minutes"
    )


def _print_counter(title: str, counter: Counter[str]) -> None:
    print(f"{title}:" + ("" if counter else " none"))
    for label, count in counter.most_common():
        print(f"  {count:>7,}  {label}")


def say(message: str) -> None:
    print(f"[soak] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="load duration")
    parser.add_argument("--readers", type=int, default=40, help="concurrent readers")
    parser.add_argument(
        "--campaigns", type=int, default=4, help="campaigns open at any time"
    )
    parser.add_argument(
        "--places",
        type=int,
        default=8,
        help="max_participants of each campaign (fewer than the readers)",
    )
    parser.add_argument(
        "--converge-seconds",
        type=float,
        default=150,
        help="bound on the wait for the sweeper and retries after the load",
    )
    parser.add_argument(
        "--idempotent-minter",
        action="store_true",
        help="a minter that honours Idempotency-Key, and BUX_MINTER_IDEMPOTENT=1 "
        "(default: production's minter, which ignores it)",
    )
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the logs of a passing run"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        print(
            "DATABASE_URL is not set: run under `python -m blockster.devstack exec --`"
            " (make soak) or point it at a PostgreSQL server.",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGALRM, _raise_overrun)
    # Setup and the checks take a couple of minutes at most; past that, something
    # hangs, and the run fails rather than blocking CI.
    signal.alarm(int(args.seconds + args.converge_seconds + 300))
    soak = Soak(args)
    status = 1
    try:
        status = soak.run()
    except KeyboardInterrupt:
        say("interrupted; stopping everything")
        status = 130
    except Exception as error:
        traceback.print_exc()
        say(f"failed: {type(error).__name__}: {error}")
        status = 1
    finally:
        signal.alarm(0)
        soak.cleanup()
        if status == 0 and not args.keep_logs:
            shutil.rmtree(soak.log_dir, ignore_errors=True)
        elif soak.log_dir.exists():
            say(f"logs kept in {soak.log_dir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
