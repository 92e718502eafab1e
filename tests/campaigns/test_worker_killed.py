"""A Celery worker process killed in the middle of a mint: the task is redelivered
(acks_late + reject_on_worker_lost) and the reward is minted once, or is left for an
operator when the minter cannot tell a repeat from a new request."""

from __future__ import annotations

import time
from unittest import mock

import pytest

from campaigns.models import ShareReward
from campaigns.services import share_to_x
from rewards.tasks import mint_bux_task

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_retries"),
]


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "plain"])
def test_killing_the_worker_mid_mint_never_mints_twice(
    reader,
    sandbox_campaign_factory,
    connect_x,
    sandbox,
    worker_process,
    idempotent,
    wait_for,
):
    campaign = sandbox_campaign_factory()
    connect_x(reader)
    with mock.patch("campaigns.services.claim.request_mint", autospec=True):
        assert share_to_x(reader, campaign).ok
    reward = ShareReward.objects.get(user=reader)
    sandbox.ignore_idempotency_keys(not idempotent)
    worker = worker_process(idempotent=idempotent)
    # The minter mints, then takes its time to answer: the worker dies waiting.
    sandbox.fault("POST /minter/mint", hang=10, when="after")

    mint_bux_task.apply_async((reward.pk,), queue=worker.queue)
    assert wait_for(lambda: len(sandbox.mints()) == 1)
    worker.kill_pool_child()

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
