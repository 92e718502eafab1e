"""Servers a test owns, so it can stop them: a Redis and a PostgreSQL of its own.

Outage tests stop the real process (SIGKILL, or a fast shutdown) and start it again;
they never touch the machine's shared servers.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu.pools
import pytest
from celery import Celery

from devprocs import NO_PERSISTENCE, RedisServer


class RedisProcess(RedisServer):
    """A Redis the test may stop (`down()`). Without persistence a restart brings it
    back empty, as a crashed cache-only Redis; with it (`persistent=True`: an
    append-only file written on every command) it comes back with everything it
    held, as a Redis restarted from its disk."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        options = ("--save", "", "--appendonly", "yes", "--appendfsync", "always")
        super().__init__(
            directory,
            options=options if persistent else NO_PERSISTENCE,
            name="the test's Redis",
        )


class PostgresProcess:
    """A PostgreSQL server (pgserver's binaries) with one database, on a Unix socket
    in its own directory, so its URL stays the same across restarts. Stopping it is
    ours to do (`cleanup`)."""

    database = "app"

    def __init__(self) -> None:
        with warnings.catch_warnings():
            # platformdirs warns about an unset XDG_RUNTIME_DIR on servers.
            warnings.simplefilter("ignore")
            import pgserver

        # Not under pytest's base temp: that directory is private to root, and a
        # concurrent pytest run resets its mode, locking out the server's own user.
        self.directory = Path(tempfile.mkdtemp(prefix="blockster-test-pg-"))
        self.directory.chmod(0o755)
        self.server = pgserver.get_server(self.directory / "pgdata", cleanup_mode=None)
        # Its exit hook would log to a stream pytest has closed by then.
        atexit.unregister(self.server._cleanup)
        self.server.psql(f"CREATE DATABASE {self.database};")
        self.url = self.server.get_uri(self.database)

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.server.pgdata)]
        subprocess.run(  # noqa: S603
            [*command, *args],
            user=self.server.system_user,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once (a restart, a failover); `immediate` is
        a crash."""
        self._pg_ctl("-w", "-m", mode, "stop")

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def cleanup(self) -> None:
        if (self.server.pgdata / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def _own_redis(
    settings: Any, directory: Path, *, persistent: bool
) -> Iterator[RedisProcess]:
    from blockster.celery import app as celery_app

    server = RedisProcess(directory, persistent=persistent).start()
    # Everything that uses Redis, as in the documented one-Redis setup: the mirror,
    # the cache (sessions, rate limits) and the Celery broker.
    settings.REDIS_URL = server.url
    settings.MIRROR_REDIS_URL = server.url
    settings.MIRROR_REDIS_CLUSTER = False
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": server.url}
    }
    # Celery reads its broker URL from Django's settings when it connects; its
    # pooled connections and producers are for the URL it used before.
    settings.CELERY_BROKER_URL = server.url
    _forget_broker_connections(celery_app)
    try:
        yield server
    finally:
        server.kill()
        _forget_broker_connections(celery_app)


def _forget_broker_connections(app: Celery) -> None:
    kombu.pools.reset()  # kombu's process-wide pools, one per broker URL
    app._after_fork()  # type: ignore[attr-defined]  # private: what a forked child does


@pytest.fixture
def owned_redis(settings: Any, tmp_path: Path) -> Iterator[RedisProcess]:
    """A Redis this test owns and may stop; it comes back empty. Request it before
    fixtures that connect to Redis (`celery_worker`, a Redis client)."""
    yield from _own_redis(settings, tmp_path, persistent=False)


@pytest.fixture
def owned_persistent_redis(settings: Any, tmp_path: Path) -> Iterator[RedisProcess]:
    """As `owned_redis`, but it comes back with everything it held."""
    yield from _own_redis(settings, tmp_path, persistent=True)
