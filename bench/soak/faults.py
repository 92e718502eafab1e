"""The faults a soak run injects while readers share: sandbox faults on X and the
minter (one every few seconds, in a cycle), and infrastructure faults on their own
schedule (PostgreSQL sessions ended, a Celery worker and Redis killed, copies of mint
tasks published at once). A new fault is one entry here and, for an infrastructure
fault, one FaultInjector method."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.soak.cluster import CLUSTER_FAULTS, MIRROR_PRIMARY_KILLED, kill_a_primary
from bench.soak.figures import Figures
from bench.soak.stack import (
    MINTER_READ_TIMEOUT,
    X_READ_TIMEOUT,
    CeleryWorker,
    SoakDatabase,
)
from devprocs import RedisServer
from devprocs.cluster import LocalRedisCluster
from sandbox.testing import Sandbox

RETWEET = "POST /2/users/:id/retweets"
LIKE = "POST /2/users/:id/likes"
MINT = "POST /minter/mint"
# The reader's timeline, read to confirm a share and by the audit after payout.
TIMELINE = "GET /2/users/:id/tweets"


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
    ("timeline 429", TIMELINE, {"status": 429, "headers": _short_reset}),
    # Three: the X client repeats a failed read twice itself.
    ("timeline 503", TIMELINE, {"status": 503, "times": 3}),
    ("timeline slow (timeout)", TIMELINE, {"hang": X_HANG, "times": 3}),
    ("timeline 500", TIMELINE, {"status": 500, "times": 3}),
]
SANDBOX_FAULT_EVERY = 2.0
# The whole Redis (broker, cache and sessions, mirror) stays away this long while
# readers keep sharing.
REDIS_DOWN_SECONDS = 5.0
REDIS_DOWN = f"Redis killed, down {REDIS_DOWN_SECONDS:g} s, restarted empty"
# (label, first at, then every) in seconds from the start of the load; each label is
# a FaultInjector method in its `infra` table.
INFRA_FAULTS = [
    ("mint task copies published at once", 4.0, 6.0),
    ("confirmation task copies published at once", 7.0, 6.0),
    ("PostgreSQL connections terminated", 10.0, 20.0),
    ("Celery worker SIGKILLed and restarted", 15.0, 30.0),
    ("Redis killed and restarted empty", 25.0, 60.0),
    (REDIS_DOWN, 45.0, 60.0),
]
# Copies of one reward's mint task sent together, as a redelivery racing the
# sweeper's re-queue would; for this many of the rewards verified last.
MINT_COPIES = 4
MINT_COPIED_REWARDS = 3


def fault_schedule(
    seconds: float, *, mirror_cluster: bool = False
) -> list[tuple[float, str]]:
    events = []
    at, index = 1.0, 0
    while at < seconds:
        events.append((at, SANDBOX_FAULTS[index % len(SANDBOX_FAULTS)][0]))
        at, index = at + SANDBOX_FAULT_EVERY, index + 1
    infra = INFRA_FAULTS + (CLUSTER_FAULTS if mirror_cluster else [])
    for label, first, every in infra:
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
        mirror_cluster: LocalRedisCluster | None = None,
    ) -> None:
        self.sandbox, self.database, self.redis = sandbox, database, redis
        self.mirror_cluster = mirror_cluster
        self.workers, self.figures = workers, figures
        self.by_label = {label: (route, spec) for label, route, spec in SANDBOX_FAULTS}
        self.infra: dict[str, Callable[[], None]] = {
            "mint task copies published at once": self.publish_mint_copies,
            "confirmation task copies published at once": (
                self.publish_confirmation_copies
            ),
            "PostgreSQL connections terminated": self.terminate_database_sessions,
            "Celery worker SIGKILLed and restarted": self.kill_a_worker,
            "Redis killed and restarted empty": self.restart_redis,
            REDIS_DOWN: self.hold_redis_down,
            MIRROR_PRIMARY_KILLED: self.kill_a_mirror_primary,
        }
        self.kills = 0

    def run(self, seconds: float, stop: threading.Event) -> None:
        started = time.monotonic()
        schedule = fault_schedule(seconds, mirror_cluster=bool(self.mirror_cluster))
        for at, label in schedule:
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

    def restart_redis(self) -> None:
        with self.redis.down():
            time.sleep(1.0)

    def hold_redis_down(self) -> None:
        self.figures.redis_down.set()
        try:
            with self.redis.down():
                time.sleep(REDIS_DOWN_SECONDS)
        finally:
            self.figures.redis_down.clear()

    def kill_a_mirror_primary(self) -> None:
        assert self.mirror_cluster is not None
        failover = kill_a_primary(self.mirror_cluster)
        self.figures.count("notes", "mirror failover, ms", round(failover * 1000))

    def publish_mint_copies(self) -> None:
        """Copies of the mint task of the rewards verified last, all sent at once:
        between them (and the copy already queued) one mint request may go out."""
        from rewards.tasks import mint_bux_task

        self._publish_copies(mint_bux_task, "verified", "verified_at", "mint")

    def publish_confirmation_copies(self) -> None:
        """Copies of the confirmation task of the rewards shared last, all sent at
        once: between them they confirm or fail each share once."""
        from campaigns.tasks import confirm_share_task

        self._publish_copies(confirm_share_task, "shared", "shared_at", "confirmation")

    def _publish_copies(self, task: Any, status: str, since: str, name: str) -> None:
        """MINT_COPIES copies of `task` for each of the MINT_COPIED_REWARDS rewards
        that reached `status` last (by `since`), published from parallel threads."""
        from django.db import connection

        from campaigns.models import ShareReward

        try:
            latest = list(
                ShareReward.objects.filter(status=status)
                .order_by(f"-{since}")
                .values_list("pk", flat=True)[:MINT_COPIED_REWARDS]
            )
        finally:
            connection.close()
        copies = [reward_id for reward_id in latest for _ in range(MINT_COPIES)]
        with ThreadPoolExecutor(len(copies) or 1) as publishing:
            list(publishing.map(task.delay, copies))
        self.figures.count("notes", f"{name} task copies published", len(copies))
