from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from blockster.celery import worker_queues
from tests.production import this_runs_database_url

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A real prefork Celery worker (one pool child) in its own process."""

    def __init__(self, process: subprocess.Popen[bytes], queue: str) -> None:
        self.process, self.queue = process, queue

    def pool_children(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        )
        return [int(line) for line in out.stdout.split()]

    def kill_pool_child(self) -> None:
        """The child running the task dies; the parent sees it and redelivers."""
        (child,) = self.pool_children()
        os.kill(child, signal.SIGKILL)

    def kill(self) -> None:
        """The whole worker dies at once (its machine went away): nobody is left to
        redeliver the task, which stays unacknowledged in the broker."""
        children = self.pool_children()
        self.process.kill()
        for child in children:
            os.kill(child, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def worker_process(sandbox, tmp_path, wait_for):
    """`start(idempotent=...)`: a real prefork worker on a private queue, with the
    sandbox as its X and its minter."""
    processes = []

    def start(*, idempotent: bool) -> WorkerProcess:
        queue = f"killed-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": this_runs_database_url(),
            "BUX_MINTER_URL": sandbox.minter_url,
            "BUX_MINTER_SECRET": sandbox.minter_secret,
            "BUX_MINTER_IDEMPOTENT": "1" if idempotent else "0",
            "BUX_MINT_LEASE_SECONDS": "1",
            "BUX_MINT_RETRY_BASE_SECONDS": "0.1",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            # X is the sandbox too, and shares are confirmed there with quick looks.
            "X_API_BASE": sandbox.api_base,
            "X_CLIENT_ID": sandbox.client_id,
            "X_CLIENT_SECRET": sandbox.client_secret,
            "X_VERIFY_SHARES": "all",
            "X_VERIFY_RETRY_SECONDS": "0.2",
        }
        queues = ",".join(worker_queues(queue))
        command = [
            sys.executable, "-m", "celery", "-A", "blockster", "worker",
            "--pool", "prefork", "--concurrency", "1", "--queues", queues,
            "--without-mingle", "--without-gossip", "--loglevel", "INFO",
        ]  # fmt: skip
        log_file = tmp_path / f"worker-{queue}.log"
        with open(log_file, "ab") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=log
            )
        processes.append(process)
        assert wait_for(lambda: "ready" in log_file.read_text())
        return WorkerProcess(process, queue)

    yield start
    for process in processes:
        if process.poll() is not None:
            continue
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
