"""A Celery worker process killed in the middle of a mint: the task is redelivered
(acks_late + reject_on_worker_lost) and the reward is minted once, or is left for an
operator when the minter cannot tell a repeat from a new request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from campaigns.models import ShareReward
from campaigns.services import share_to_x
from rewards.tasks import mint_bux_task

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries"),
]

ROOT = Path(__file__).resolve().parents[2]


def this_runs_database_url() -> str:
    """DATABASE_URL, pointed at the test database this process uses."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture
def worker_process(sandbox, tmp_path, wait_for):
    """A real prefork worker (one child) in its own process, on a private queue."""
    queue = f"killed-{uuid.uuid4().hex[:8]}"
    processes = []

    def start(*, idempotent: bool):
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
        log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        processes.append(process)
        assert wait_for(lambda: "ready" in (tmp_path / "worker.log").read_text())
        return process, queue

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pool_children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "plain"])
def test_killing_the_worker_mid_mint_never_mints_twice(
    reader, campaign_factory, connect_x, sandbox, worker_process, idempotent, wait_for
):
    campaign = campaign_factory()
    connect_x(reader)
    with mock.patch("rewards.services.request_mint", autospec=True):
        assert share_to_x(reader, campaign).ok
    reward = ShareReward.objects.get(user=reader)
    sandbox.ignore_idempotency_keys(not idempotent)
    process, queue = worker_process(idempotent=idempotent)
    # The minter mints, then takes its time to answer: the worker dies waiting.
    sandbox.fault("POST /minter/mint", hang=10, when="after")

    mint_bux_task.apply_async((reward.pk,), queue=queue)
    assert wait_for(lambda: len(sandbox.mints()) == 1)
    (child,) = pool_children(process.pid)
    os.kill(child, signal.SIGKILL)

    if idempotent:
        assert wait_for(
            lambda: ShareReward.objects.get(pk=reward.pk).status == "rewarded"
        )
        reward.refresh_from_db()
        assert reward.tx_hash == sandbox.mints()[0]["transactionHash"]
        assert reward.mint_attempts == 2
    else:
        assert wait_for(lambda: ShareReward.objects.get(pk=reward.pk).needs_operator)
        assert ShareReward.objects.get(pk=reward.pk).status == "verified"
    time.sleep(1.5)
    assert len(sandbox.mints()) == 1
