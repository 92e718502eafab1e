"""The processes of a soak run and the settings they share: its own database,
Redis, gunicorn and Celery workers, each on a free loopback port and stopped at the
end whatever happens (the sandbox is `sandbox.testing.SandboxProcess`).

Imported before Django is configured: nothing here imports the project's Django code.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

from bench.common import ROOT, gunicorn_command
from devprocs import NO_PERSISTENCE, Process, RedisServer
from sandbox.testing import Sandbox

# Tight timeouts so a short run converges; the hang faults outlast them.
X_CONNECT_TIMEOUT = 2.0
X_READ_TIMEOUT = 2.0
MINTER_CONNECT_TIMEOUT = 2.0
MINTER_READ_TIMEOUT = 3.0
# Longer than the longest mint request (connect + read timeouts), twice over.
MINT_LEASE_SECONDS = 2 * (MINTER_CONNECT_TIMEOUT + MINTER_READ_TIMEOUT)
# Every share is confirmed on X (production's default), with looks a second apart so
# a short run confirms within seconds; the audit looks again this long after a mint
# (production: a day), so the run sees retweets taken back after payout.
VERIFY_RETRY_SECONDS = 1.0
VERIFY_ATTEMPTS = 3
AUDIT_DELAY_SECONDS = 15


def database_url_with_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


class SoakDatabase:
    """A fresh database on the server of DATABASE_URL, dropped at the end."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.name = f"blockster_soak_{secrets.token_hex(4)}"
        self.url = database_url_with_name(server_url, self.name)
        self.created = False

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.server_url, autocommit=True, connect_timeout=10)

    def create(self) -> None:
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name))
            )
        self.created = True

    def terminate_connections(self) -> int:
        """End every other session on the soak database, as a failover or an
        administrator would; returns how many were ended."""
        with self._admin() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            ).fetchall()
        return sum(1 for (ended,) in rows if ended)

    def connection_count(self) -> int:
        with self._admin() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                (self.name,),
            ).fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        if not self.created:
            return
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.name)
                )
            )
        self.created = False


def soak_redis(log_dir: Path) -> RedisServer:
    """Without persistence, so a restart brings it back empty (broker queues, mirror,
    rate-limit counters and cache all gone)."""
    options = (*NO_PERSISTENCE, "--maxclients", "1000")
    return RedisServer(log_dir, options=options)


class Gunicorn(Process):
    def __init__(self, *, port: int, env: dict[str, str], log_dir: Path) -> None:
        command = [
            *gunicorn_command(port, workers=2, threads=4),
            "--graceful-timeout", "5",
            "--access-logfile", str(log_dir / "access.log"),
        ]  # fmt: skip
        log = log_dir / "gunicorn.log"
        super().__init__("gunicorn", command, log_path=log, env=env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{port}"

    def healthy(self) -> bool:
        return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200


class CeleryWorker(Process):
    """A prefork worker with two pool processes."""

    def __init__(self, number: int, *, env: dict[str, str], log_dir: Path) -> None:
        self.number, self.log_dir, self.restarts = number, log_dir, 0
        command = [
            sys.executable, "-m", "celery", "-A", "blockster", "worker",
            "--pool", "prefork", "--concurrency", "2",
            "--hostname", f"soak{number}@%h",
            "--without-mingle", "--without-gossip", "--loglevel", "INFO",
        ]  # fmt: skip
        log = log_dir / f"worker-{number}.log"
        super().__init__(f"worker-{number}", command, log_path=log, env=env, cwd=ROOT)

    def ready(self) -> bool:
        return " ready." in self.log_text()

    def restart(self) -> None:
        """A fresh log per start, so readiness is read from the new process."""
        self.restarts += 1
        self.log_path = self.log_dir / f"worker-{self.number}.{self.restarts}.log"
        self.start().wait_ready(self.ready, timeout=60)


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
        "X_BEARER_TOKEN": sandbox.app_bearer_token,
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
        "X_VERIFY_SHARES": "all",
        "X_VERIFY_FIRST_DELAY_SECONDS": "1",
        "X_VERIFY_RETRY_SECONDS": f"{VERIFY_RETRY_SECONDS:g}",
        "X_VERIFY_ATTEMPTS": str(VERIFY_ATTEMPTS),
        "X_AUDIT_DELAY_SECONDS": str(AUDIT_DELAY_SECONDS),
        "X_AUDIT_READS_PER_RUN": "1000",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "plain",
    }


def minter_mode_args(*, idempotent: bool) -> list[str]:
    """The sandbox minter as production's (every request mints), or honouring
    Idempotency-Key."""
    return [] if idempotent else ["--minter-ignores-idempotency-key"]
