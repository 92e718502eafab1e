"""Soak test: the whole stack under concurrent readers and injected faults, then
the invariants that must hold whatever broke.

A run from start to end: the stack up, readers connected, the load with its faults,
convergence, then the figures and the invariants (bench/soak/__init__.py).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from bench.common import ROOT
from bench.soak.cluster import mirror_environment, start_mirror_cluster
from bench.soak.faults import FaultInjector
from bench.soak.figures import Figures, print_rewards, print_tweets, shape
from bench.soak.readers import (
    CampaignPool,
    Reader,
    connect_x,
    create_readers,
    reader_loop,
)
from bench.soak.stack import (
    CeleryWorker,
    Gunicorn,
    SoakDatabase,
    minter_mode_args,
    soak_redis,
    stack_environment,
)
from bench.soak.sweeper import SWEEP_EVERY, sweep_once, sweeper_loop
from blockster.devstack import manage
from devprocs import RedisServer, free_port
from devprocs.cluster import LocalRedisCluster
from sandbox.testing import Sandbox, SandboxProcess


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


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.figures = Figures()
        self.database = SoakDatabase(os.environ["DATABASE_URL"])
        self.log_dir = ROOT / ".data" / "soak" / self.database.name
        self.redis: RedisServer | None = None
        self.mirror_cluster: LocalRedisCluster | None = None
        self.sandbox_process: SandboxProcess | None = None
        self.sandbox: Sandbox | None = None
        self.web: Gunicorn | None = None
        self.workers: list[CeleryWorker] = []
        self.readers: list[Reader] = []

    # Stack -------------------------------------------------------------------------

    def start_stack(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        say(f"logs in {self.log_dir.relative_to(ROOT)}")
        self.database.create()
        say(f"database {self.database.name} created")
        self.redis = soak_redis(self.log_dir).start()
        if self.args.mirror_cluster:
            self.mirror_cluster = start_mirror_cluster(self.log_dir)
            say(
                "mirror on a Redis Cluster of 3 primaries + 3 replicas, "
                f"{self.mirror_cluster.url}"
            )
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
        if self.mirror_cluster is not None:
            environment.update(mirror_environment(self.mirror_cluster))
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
        self.web.wait_ready(self.web.healthy, timeout=60)
        for worker in self.workers:
            worker.wait_ready(worker.ready, timeout=60)
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
        if self.mirror_cluster is not None:
            self.mirror_cluster.stop()
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
        pool = CampaignPool(
            self.sandbox, self.args.places, self.args.campaigns, self.rng
        )
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
        # X's timelines lag: each retweet shows from the second look on, so every
        # confirmation looks again before it sees the share.
        self.sandbox.set_timeline_lag(1)
        self.figures.timings["setup"] = time.monotonic() - started
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
            self.sandbox,
            self.database,
            self.redis,
            self.workers,
            self.figures,
            mirror_cluster=self.mirror_cluster,
        )
        seconds = self.args.seconds
        # Readers press about as often as the app's share limit allows, so double
        # clicks sometimes push them over it (answered 429).
        interval = 60 / SHARES_PER_MINUTE
        pause = (0.6 * interval, 1.2 * interval)
        # Refusals that mean the reader's share of the campaign exists already.
        done = {shape(c.user_message) for c in (AlreadyShared, ShareInProgress)}
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
        self.figures.timings["load"] = time.monotonic() - started

    def converge(self) -> None:
        """Faults off, every process up, then the sweepers until every share is
        confirmed or failed, every verified reward is minted or in the operator
        queue (`rewards_to_sweep` re-queues only rewards left quiet; a lost mint's
        lease must run out), and every confirmed, rewarded share has had its audit
        (AUDIT_DELAY_SECONDS after its mint), within a bound."""
        from django.db import connection
        from django.db.models import Q

        from campaigns.models import ShareReward

        assert self.sandbox is not None
        pending_faults = self.sandbox.pending_faults()
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
                unsettled = ShareReward.objects.filter(
                    Q(status="verified", needs_operator=False)
                    | Q(status="shared")
                    | Q(
                        status="rewarded",
                        audited_at__isnull=True,
                        retweet_post_id__gt="",
                    )
                ).count()
            except Exception as error:
                self.figures.count("errors", f"converge: {type(error).__name__}")
                connection.close()
                unsettled = -1
            if unsettled == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        self.figures.timings["converge"] = time.monotonic() - started

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
        from bench.soak.checks import check_invariants, print_invariants

        pool = self.set_up_world()
        self.load(pool)
        self.converge()
        self.stop_app()
        in_sync, repaired, final = self.check_mirror()
        assert self.sandbox is not None
        mints, retweets = self.sandbox.mints(), self.sandbox.retweets()
        undone = self.sandbox.undone_retweets()
        invariants = check_invariants(
            mints=mints,
            retweets=retweets,
            undone_retweets=undone,
            removed_retweets=self.sandbox.removed_retweets(),
            sweep_period=SWEEP_EVERY,
            mirror_in_sync=in_sync,
            mirror_detail=final,
        )
        mode = "idempotent minter" if self.args.idempotent_minter else "production"
        where = ", mirror on a Redis Cluster" if self.mirror_cluster else ""
        self.figures.print_load(
            title=f"seed {self.args.seed}, {mode} mode{where}",
            readers=len(self.readers),
            places=self.args.places,
        )
        print_tweets()
        print_rewards(
            mints,
            retweets,
            f"repair: {repaired}  then check: {final}",
            self.sandbox.requests(limit=0)["by_route"],
        )
        print_invariants(invariants)
        violations = sum(i.violations for i in invariants)
        if violations:
            print(f"\nFAILED: {violations} violation(s); logs in {self.log_dir}")
            return 1
        print("\nOK: every invariant holds.")
        return 0


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
    parser.add_argument(
        "--mirror-cluster",
        action="store_true",
        help="the mirror on a local Redis Cluster (3 primaries, a replica each), "
        "with a primary SIGKILLed during the load (bench/soak/cluster.py)",
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
