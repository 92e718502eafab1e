from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import ShareCampaign
from campaigns.services import create_share_campaign
from posts.models import Post
from tests.production import this_runs_database_url

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
_slugs = itertools.count(1)


@pytest.fixture
def post_factory(owner):
    def make(**fields) -> Post:
        n = next(_slugs)
        fields.setdefault("title", f"Story number {n}")
        fields.setdefault("slug", f"story-{n}")
        fields.setdefault("body", "A story worth sharing.")
        fields.setdefault("author", owner)
        fields.setdefault("is_published", True)
        fields.setdefault("published_at", timezone.now())
        return Post.objects.create(**fields)

    return make


@pytest.fixture
def campaign_factory(post_factory, sandbox):
    """A campaign on a fresh post, for a tweet that exists in the sandbox."""

    def make(**fields) -> ShareCampaign:
        tweet = sandbox.create_tweet("Read this on Blockster")
        fields.setdefault("bux_reward", Decimal("2"))
        return create_share_campaign(
            post_factory(),
            tweet_url=f"https://x.com/BlocksterCom/status/{tweet['id']}",
            **fields,
        )

    return make


@pytest.fixture
def reader(user_factory):
    return user_factory(display_name="Rita Reader", wallet_address=WALLET)


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
    sandbox as its minter."""
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
        }
        command = [
            sys.executable, "-m", "celery", "-A", "blockster", "worker",
            "--pool", "prefork", "--concurrency", "1", "--queues", queue,
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
